"""The ``peaksql`` argument parser: one function per command, help from the registries.

Defaults shown in the help come from ``peaksql.server.config`` (ServerConfig, Limits, the
data dir); the ``add-data`` formats come from ``peaksql.server.ingest.formats.FORMATS``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from peaksql.server.cli.describe import add_describe_command
from peaksql.server.config import (
    DEFAULT_DATA_DIR,
    LIMIT_HELP,
    LOG_FORMATS,
    Limits,
    limit_names,
    server_defaults,
)
from peaksql.server.ingest.formats import describe_formats, display_names, format_names

_SERVER = server_defaults()
#: What ``add_subparsers`` returns.
Commands = argparse._SubParsersAction
#: Certificate name ``peaksql healthcheck`` expects when PEAKSQL_TLS_SERVER_NAME is unset.
HEALTHCHECK_SERVER_NAME = "localhost"

DESCRIPTION = f"""\
PeakSQL serves genomic training data: DNA windows, one-hot encoded, labelled from
experiments (peaks, signal tracks), selected with SQL-style constraints.

Typical use:
  peaksql add-assembly hg38.fa --name hg38 --species human
  peaksql add-data liver.narrowPeak heart.narrowPeak --assembly hg38
  peaksql list
  peaksql describe --seq-length 1000 --stride 500 --label any
  peaksql serve --port {_SERVER["port"]}

Data lives in --data-dir (or $PEAKSQL_DATA_DIR, default {DEFAULT_DATA_DIR}); the catalog
database is --db (or $PEAKSQL_DB): an SQLite path or a SQLAlchemy URL such as
postgresql://user@host/db. Default: an SQLite file inside the data dir.
"""

SERVE_ENVIRONMENT = f"""\
environment (a flag given on the command line wins):
  PEAKSQL_DB                  catalog database URL (or SQLite path)
  PEAKSQL_DB_FILE             file holding that URL (Docker secret), if PEAKSQL_DB is unset
  PEAKSQL_DB_PASSWORD_FILE    file holding the password of a URL that has none
  PEAKSQL_DATA_DIR            genome store directory (a read-only volume is fine)
  PEAKSQL_HOST, PEAKSQL_PORT  where to listen (default {_SERVER["host"]}:{_SERVER["port"]})
  PEAKSQL_WORKERS             threads serving calls (default {_SERVER["workers"]})
  PEAKSQL_GRACE               seconds running streams get at shutdown (default {_SERVER["grace_seconds"]:g})
  PEAKSQL_TOKENS_FILE         bearer tokens, one per line, optionally 'NAME TOKEN';
                              unset: no authentication (laptop use)
  PEAKSQL_TLS_CERT, PEAKSQL_TLS_KEY   server certificate and key (PEM): TLS on
  PEAKSQL_TLS_CLIENT_CA       CA of client certificates: mutual TLS
  PEAKSQL_METRICS_PORT        Prometheus /metrics port (unset: off)
  PEAKSQL_METRICS_HOST        its address (default {_SERVER["metrics_host"]})
  PEAKSQL_STATEMENT_TIMEOUT   seconds any SQL statement may run, PostgreSQL (default {_SERVER["statement_timeout_seconds"]:g})
  PEAKSQL_NO_MIGRATE          1: refuse an old schema instead of upgrading it
  PEAKSQL_LOG_FORMAT          {_SERVER["log_format"]} (default: one JSON object a line) or text
  PEAKSQL_MAX_BATCH_BYTES, PEAKSQL_MAX_BATCH_SIZE, PEAKSQL_MAX_GET_WINDOWS,
  PEAKSQL_MAX_STREAMS_PER_TOKEN, PEAKSQL_MAX_CONSTRAINT_LENGTH, PEAKSQL_MAX_IN_LIST,
  PEAKSQL_MAX_PLANS, PEAKSQL_MAX_STREAMS, PEAKSQL_PLAN_MEMORY_BUDGET
                              limits (see the --max-* flags); over one: RESOURCE_EXHAUSTED
  PEAKSQL_STREAM_IDLE, PEAKSQL_DB_PROBE, PEAKSQL_KEEPALIVE   see --stream-idle and so on

The server never writes: ingest and removal are 'peaksql add-*' / 'remove' run against the
database with the admin role; serve with a read-only role ('peaksql migrate --reader-role').
"""  # noqa: E501 - the help text's columns


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peaksql", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in (
        _add_assembly_command,
        _add_data_command,
        _list_command,
        add_describe_command,
        _remove_command,
        _serve_command,
        _migrate_command,
        _healthcheck_command,
        _example_command,
    ):
        add_command(commands)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help=f"genome store directory (env PEAKSQL_DATA_DIR; default {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--db", help="catalog database: SQLite path or SQLAlchemy URL (env PEAKSQL_DB)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_assembly_command(commands: Commands) -> None:
    p = commands.add_parser(
        "add-assembly",
        help="store a genome (FASTA, plain, gzip or bgzip; or 2bit) as a memory-mapped assembly",
        description="Read a FASTA or 2bit file once and store it as one memory-mappable file of "
        "base codes (IUPAC letters, N blocks and soft-masking kept). The input is not needed "
        "afterwards. Temporary files go to DATA_DIR/tmp and are swept if an ingest is killed.",
    )
    p.add_argument(
        "fasta",
        type=Path,
        help="FASTA (.fa, .fasta; plain, gzip or bgzip) or UCSC 2bit file (told by content)",
    )
    p.add_argument("--name", required=True, help="assembly name, e.g. hg38")
    p.add_argument("--species", help="species, e.g. human")
    _common(p)


def _add_data_command(commands: Commands) -> None:
    p = commands.add_parser(
        "add-data",
        help=f"add intervals ({display_names()}) as conditions",
        description=f"Add interval files to an assembly: {describe_formats()}, optionally "
        "gzipped; the format comes from the extension unless --format is given (a .bed file "
        "with 10 columns is read as narrowPeak). Each file becomes one condition (named after "
        "the file unless --condition is given). All files are stored in one transaction: a "
        "bad line in any file stores nothing of any file.",
    )
    p.add_argument("files", type=Path, nargs="+", help="interval files, optionally gzipped")
    p.add_argument("--assembly", required=True, help="assembly the coordinates refer to")
    p.add_argument("--condition", help="condition name (default: the file name's stem)")
    p.add_argument(
        "--format", choices=format_names(), help="file format (default: from the extension)"
    )
    p.add_argument(
        "--append", action="store_true", help="add to an existing condition of that name"
    )
    p.add_argument("--metadata", help='condition metadata as JSON, e.g. \'{"cell": "HepG2"}\'')
    p.add_argument(
        "--strand",
        choices=("+", "-", ".", "+-"),
        help="store as a signal track: + or - strand of a stranded condition (add the other "
        "with --append), . unstranded (a bedGraph as signal), +- two files: the + then the - "
        "track of one condition (bigWig is always signal)",
    )
    p.add_argument(
        "--chromosome-aliases",
        type=Path,
        metavar="FILE",
        help="UCSC-style alias file (chromAlias.txt): tab-separated, the assembly's name "
        "first, then its aliases. Built in: chr20 <-> 20, chrM <-> MT",
    )
    p.add_argument(
        "--skip-unknown-chromosomes",
        action="store_true",
        help="skip lines on chromosomes the assembly lacks (reported by name and count) "
        "instead of refusing the file",
    )
    _common(p)


def _list_command(commands: Commands) -> None:
    p = commands.add_parser(
        "list",
        help="list assemblies and conditions",
        description="List the catalog's assemblies (species, chromosomes, length) and "
        "conditions (assembly, interval count or signal runs, metadata) in aligned columns. "
        "Reads only: a data dir without a catalog is an error, not a new empty catalog.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output, metadata included")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="each assembly's chromosomes, full metadata"
    )
    _common(p)


def _remove_command(commands: Commands) -> None:
    p = commands.add_parser(
        "remove",
        help="remove a condition, or an assembly with its data",
        description="Remove a condition with its intervals, or an assembly with its "
        "chromosomes, every condition on it and its genome store file, in one transaction. "
        "Servers see the change at their next plan (cached plans are keyed by catalog "
        "version).",
    )
    p.add_argument("kind", choices=("condition", "assembly"), help="what to remove")
    p.add_argument("name", help="its name, as 'peaksql list' shows it")
    _common(p)


def _serve_command(commands: Commands) -> None:
    p = commands.add_parser(
        "serve",
        help="serve the catalog to training clients over gRPC",
        description="Start the gRPC server. Stops gracefully on SIGTERM/SIGINT: health turns "
        "NOT_SERVING, running streams get --grace seconds to finish. Every flag can be set by "
        "the environment variable after it; a flag wins over the variable.",
        epilog=SERVE_ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _serve_arguments(p)
    _common(p)


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    """The ``serve`` flags; values left unset come from the environment or the defaults."""
    p.add_argument("--host", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, help="port (0 picks a free one)")
    p.add_argument("--workers", type=int, help="threads serving calls (kernels release the GIL)")
    p.add_argument("--grace", type=float, help="seconds streams get to finish at shutdown")
    p.add_argument("--tokens-file", help="bearer tokens file: authentication on")
    p.add_argument("--tls-cert", help="server certificate (PEM): TLS on; needs --tls-key")
    p.add_argument("--tls-key", help="server private key (PEM)")
    p.add_argument("--tls-client-ca", help="CA of client certificates: mutual TLS")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on this port")
    p.add_argument("--metrics-host", help="address of the metrics endpoint")
    p.add_argument("--statement-timeout", type=float, help="seconds per SQL statement")
    p.add_argument(
        "--no-migrate",
        action="store_true",
        default=None,
        help="refuse an old schema instead of upgrading it (replicas with a read-only role)",
    )
    p.add_argument(
        "--log-format", choices=LOG_FORMATS, help=f"log lines (default {_SERVER['log_format']})"
    )
    p.add_argument(
        "--stream-idle",
        type=float,
        help="seconds a stream may wait on a client that stopped reading "
        f"(default {_SERVER['stream_idle_seconds']:g})",
    )
    p.add_argument(
        "--db-probe",
        type=float,
        help=f"seconds between catalog health probes (default {_SERVER['db_probe_seconds']:g})",
    )
    p.add_argument(
        "--keepalive",
        type=float,
        help="seconds between keepalive pings to clients "
        f"(default {_SERVER['keepalive_seconds']:g})",
    )
    defaults = Limits()
    for name in limit_names():
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            metavar="N",
            help=f"{LIMIT_HELP[name]} (default {getattr(defaults, name):,})",
        )


def _migrate_command(commands: Commands) -> None:
    p = commands.add_parser(
        "migrate",
        help="create or upgrade the catalog schema (run once per upgrade)",
        description="Bring the catalog schema to this version (Alembic), with the admin "
        "role. On PostgreSQL, --reader-role also creates or updates the read-only role the "
        "servers use: SELECT on the catalog and nothing else, so a write fails in PostgreSQL.",
    )
    p.add_argument(
        "--reader-role",
        default=os.environ.get("PEAKSQL_READER_ROLE"),
        help="PostgreSQL role to create/grant read-only access (env PEAKSQL_READER_ROLE)",
    )
    p.add_argument(
        "--reader-password-file",
        default=os.environ.get("PEAKSQL_READER_PASSWORD_FILE"),
        help="file holding that role's password (env PEAKSQL_READER_PASSWORD_FILE; "
        "none: a login without password, for trust or certificate authentication)",
    )
    _common(p)


def _healthcheck_command(commands: Commands) -> None:
    p = commands.add_parser(
        "healthcheck",
        help="ask a server's gRPC health service whether it is SERVING (exit 0) or not (1)",
        description="Probe grpc.health.v1 (no token needed), as Docker's HEALTHCHECK does. "
        "TLS is used when --tls-ca or PEAKSQL_TLS_CERT is set.",
    )
    p.add_argument(
        "--address",
        help="host:port (default 127.0.0.1:$PEAKSQL_PORT, i.e. this container's server)",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait")
    p.add_argument(
        "--tls-ca",
        default=os.environ.get("PEAKSQL_TLS_CA") or os.environ.get("PEAKSQL_TLS_CERT"),
        help="CA that signed the server's certificate (env PEAKSQL_TLS_CA, else the "
        "server's own PEAKSQL_TLS_CERT, right for a self-signed one)",
    )
    p.add_argument(
        "--server-name",
        default=os.environ.get("PEAKSQL_TLS_SERVER_NAME", HEALTHCHECK_SERVER_NAME),
        help="name the certificate must hold (env PEAKSQL_TLS_SERVER_NAME; "
        f"default {HEALTHCHECK_SERVER_NAME})",
    )
    p.add_argument(
        "--cert",
        default=os.environ.get("PEAKSQL_HEALTHCHECK_CERT"),
        help="client certificate for mutual TLS (env PEAKSQL_HEALTHCHECK_CERT)",
    )
    p.add_argument(
        "--key",
        default=os.environ.get("PEAKSQL_HEALTHCHECK_KEY"),
        help="its private key (env PEAKSQL_HEALTHCHECK_KEY)",
    )


def _example_command(commands: Commands) -> None:
    p = commands.add_parser(
        "example",
        help="build a catalog from the bundled example (2 Mb of human chr20)",
        description="Ingest the bundled example into --data-dir (works offline): 2 Mb of "
        "human chr20 (hg19) and five conditions (CTCF peaks, TF sites, genes, CpG islands, "
        "blacklist); then list the catalog. Running it again changes nothing.",
    )
    _common(p)
