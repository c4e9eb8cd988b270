"""The ``peaksql`` command: ingest genomes and experiments, inspect the catalog, serve it.

``parser`` builds the argument parser (flags, help texts; defaults from ``config``),
``serve_settings`` turns ``serve``'s flags and environment into a ServerConfig and
``commands`` runs each command. The console script is ``peaksql.server.cli:main``;
``python -m peaksql.server.cli`` runs the same.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from peaksql.core.errors import PeakSQLError
from peaksql.server.cli.commands import COMMANDS
from peaksql.server.cli.parser import SERVE_ENVIRONMENT, build_parser
from peaksql.server.cli.serve_settings import serve_config as _serve_config

__all__ = ["COMMANDS", "SERVE_ENVIRONMENT", "_serve_config", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except PeakSQLError as error:
        print(f"peaksql {args.command}: error: {error}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as error:
        print(
            f"peaksql {args.command}: error: --metadata is not valid JSON: {error}", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
