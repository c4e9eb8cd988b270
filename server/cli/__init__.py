"""The ``peaksql`` command: ingest genomes and experiments, inspect the catalog, serve it.

``parser`` builds the argument parser (flags, help texts; defaults from ``config``),
``serve_settings`` turns ``serve``'s flags and environment into a ServerConfig and
``commands`` runs each command. The console script is ``peaksql.server.cli:main``;
``python -m peaksql.server.cli`` runs the same.
"""

from __future__ import annotations

import json
import os
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
        sys.stdout.flush()  # a closed pipe shows here, not at exit (status 120)
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
    except BrokenPipeError:  # `peaksql list | head`: the reader has gone, which is no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        message = _system_error(error)
        if message is None:
            raise
        print(f"peaksql {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


def _system_error(error: Exception) -> str | None:
    """One line for an OS error (disk full, permissions) or a database's operational error
    (SQLite "database or disk is full", a lost connection); None for a bug (traceback)."""
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}"
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is not None and isinstance(error, exc.OperationalError):
        cause = str(error.orig or error).strip().splitlines()
        return f"database error: {cause[0] if cause else type(error).__name__}"
    return None
