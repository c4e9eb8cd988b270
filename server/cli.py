"""The ``peaksql`` command: ingest genomes and experiments, inspect the catalog, serve it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from peaksql.core.errors import InvalidArgument, PeakSQLError
from peaksql.server.config import resolve_data_dir, resolve_db

DESCRIPTION = """\
PeakSQL serves genomic training data: DNA windows, one-hot encoded, labelled from
experiments (peaks, signal tracks), selected with SQL-style constraints.

Typical use:
  peaksql add-assembly hg38.fa --name hg38 --species human
  peaksql add-data liver.narrowPeak heart.narrowPeak --assembly hg38
  peaksql list
  peaksql serve --port 50051

Data lives in --data-dir (or $PEAKSQL_DATA_DIR, default ~/.peaksql); the catalog
database is --db (or $PEAKSQL_DB): an SQLite path or a SQLAlchemy URL such as
postgresql://user@host/db. Default: an SQLite file inside the data dir.
"""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", help="genome store directory (env PEAKSQL_DATA_DIR; default ~/.peaksql)"
    )
    parser.add_argument(
        "--db", help="catalog database: SQLite path or SQLAlchemy URL (env PEAKSQL_DB)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


SERVE_ENVIRONMENT = """\
environment (a flag given on the command line wins):
  PEAKSQL_DB                  catalog database URL (or SQLite path)
  PEAKSQL_DB_FILE             file holding that URL (Docker secret), if PEAKSQL_DB is unset
  PEAKSQL_DB_PASSWORD_FILE    file holding the password of a URL that has none
  PEAKSQL_DATA_DIR            genome store directory (a read-only volume is fine)
  PEAKSQL_HOST, PEAKSQL_PORT  where to listen (default 127.0.0.1:50051)
  PEAKSQL_WORKERS             threads serving calls (default 8)
  PEAKSQL_GRACE               seconds running streams get at shutdown (default 10)
  PEAKSQL_TOKENS_FILE         bearer tokens, one per line, optionally 'NAME TOKEN';
                              unset: no authentication (laptop use)
  PEAKSQL_TLS_CERT, PEAKSQL_TLS_KEY   server certificate and key (PEM): TLS on
  PEAKSQL_TLS_CLIENT_CA       CA of client certificates: mutual TLS
  PEAKSQL_METRICS_PORT        Prometheus /metrics port (unset: off)
  PEAKSQL_METRICS_HOST        its address (default 0.0.0.0)
  PEAKSQL_STATEMENT_TIMEOUT   seconds any SQL statement may run, PostgreSQL (default 60)
  PEAKSQL_NO_MIGRATE          1: refuse an old schema instead of upgrading it
  PEAKSQL_LOG_FORMAT          json (default: one JSON object a line) or text
  PEAKSQL_MAX_BATCH_BYTES, PEAKSQL_MAX_BATCH_SIZE, PEAKSQL_MAX_GET_WINDOWS,
  PEAKSQL_MAX_STREAMS_PER_TOKEN, PEAKSQL_MAX_CONSTRAINT_LENGTH, PEAKSQL_MAX_IN_LIST,
  PEAKSQL_MAX_PLANS, PEAKSQL_MAX_STREAMS, PEAKSQL_PLAN_MEMORY_BUDGET
                               limits (see the --max-* flags); over one: RESOURCE_EXHAUSTED
  PEAKSQL_STREAM_IDLE, PEAKSQL_DB_PROBE, PEAKSQL_KEEPALIVE   see --stream-idle and so on

The server never writes: ingest and removal are 'peaksql add-*' / 'remove' run against the
database with the admin role; serve with a read-only role ('peaksql migrate --reader-role').
"""


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    """The ``serve`` flags; defaults come from the environment in ``_serve_config``."""
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
    p.add_argument("--log-format", choices=("json", "text"), help="log lines (default json)")
    p.add_argument("--stream-idle", type=float, help="seconds a stream may wait on its client")
    p.add_argument("--db-probe", type=float, help="seconds between catalog health probes")
    p.add_argument("--keepalive", type=float, help="seconds between keepalive pings to clients")
    from peaksql.server.config import LIMIT_HELP, Limits, limit_names

    defaults = Limits()
    for name in limit_names():
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            metavar="N",
            help=f"{LIMIT_HELP[name]} (default {getattr(defaults, name):,})",
        )


def _setting(value, variable: str, convert, default):  # type: ignore[no-untyped-def]
    """A flag's value, else the environment variable's (converted), else the default."""
    if value is not None:
        return value
    raw = os.environ.get(variable)
    if raw is None or raw == "":
        return default
    try:
        return convert(raw)
    except ValueError:
        raise InvalidArgument(f"environment variable {variable}={raw!r} is not valid") from None


def _flag(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _serve_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The ServerConfig of ``peaksql serve``: flags, then environment, then defaults."""
    from peaksql.server.config import Limits, ServerConfig, TLSConfig, limit_names

    data_dir = resolve_data_dir(args.data_dir)
    defaults = Limits()
    limits = Limits(
        **{
            name: _setting(getattr(args, name), f"PEAKSQL_{name.upper()}", int, None)
            or getattr(defaults, name)
            for name in limit_names()
        }
    )
    path = lambda flag, variable: _setting(flag, variable, Path, None)  # noqa: E731
    cert, key = path(args.tls_cert, "PEAKSQL_TLS_CERT"), path(args.tls_key, "PEAKSQL_TLS_KEY")
    client_ca = path(args.tls_client_ca, "PEAKSQL_TLS_CLIENT_CA")
    if (cert is None) != (key is None):
        raise InvalidArgument("TLS needs both --tls-cert and --tls-key (PEAKSQL_TLS_CERT/KEY)")
    if client_ca is not None and cert is None:
        raise InvalidArgument("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    return ServerConfig(
        db=resolve_db(args.db, data_dir),
        data_dir=data_dir,
        host=_setting(args.host, "PEAKSQL_HOST", str, "127.0.0.1"),
        port=_setting(args.port, "PEAKSQL_PORT", int, 50051),
        workers=_setting(args.workers, "PEAKSQL_WORKERS", int, 8),
        grace_seconds=_setting(args.grace, "PEAKSQL_GRACE", float, 10.0),
        limits=limits,
        tokens_file=path(args.tokens_file, "PEAKSQL_TOKENS_FILE"),
        tls=TLSConfig(cert, key, client_ca) if cert and key else None,
        metrics_port=_setting(args.metrics_port, "PEAKSQL_METRICS_PORT", int, None),
        metrics_host=_setting(args.metrics_host, "PEAKSQL_METRICS_HOST", str, "0.0.0.0"),
        statement_timeout_seconds=_setting(
            args.statement_timeout, "PEAKSQL_STATEMENT_TIMEOUT", float, 60.0
        ),
        migrate=not _setting(args.no_migrate, "PEAKSQL_NO_MIGRATE", _flag, False),
        stream_idle_seconds=_setting(args.stream_idle, "PEAKSQL_STREAM_IDLE", float, 300.0),
        db_probe_seconds=_setting(args.db_probe, "PEAKSQL_DB_PROBE", float, 5.0),
        keepalive_seconds=_setting(args.keepalive, "PEAKSQL_KEEPALIVE", float, 30.0),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peaksql", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "add-assembly",
        help="store a genome (FASTA, plain or bgzip) as a memory-mapped assembly",
        description="Read a FASTA once and store it as one memory-mappable file of base codes "
        "(IUPAC letters and soft-masking kept). The FASTA is not needed afterwards.",
    )
    p.add_argument("fasta", type=Path, help="FASTA file (.fa, .fasta, optionally bgzip .gz)")
    p.add_argument("--name", required=True, help="assembly name, e.g. hg38")
    p.add_argument("--species", help="species, e.g. human")
    _common(p)

    p = commands.add_parser(
        "add-data",
        help="add intervals (BED, narrowPeak, broadPeak, bedGraph) as conditions",
        description="Add interval files to an assembly: BED (3 to 12 columns), narrowPeak, "
        "broadPeak or bedGraph, optionally gzipped; the format comes from the extension "
        "unless --format is given. Each file becomes one condition "
        "(named after the file unless --condition is given), stored in one transaction: "
        "a bad line stores nothing of that file.",
    )
    p.add_argument("files", type=Path, nargs="+", help="interval files, optionally gzipped")
    p.add_argument("--assembly", required=True, help="assembly the coordinates refer to")
    p.add_argument("--condition", help="condition name (default: the file name's stem)")
    p.add_argument(
        "--format",
        choices=("bed", "narrowpeak", "broadpeak", "bedgraph"),
        help="file format (default: from the extension)",
    )
    p.add_argument(
        "--append", action="store_true", help="add to an existing condition of that name"
    )
    p.add_argument("--metadata", help='condition metadata as JSON, e.g. \'{"cell": "HepG2"}\'')
    _common(p)

    p = commands.add_parser("list", help="list assemblies and conditions")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _common(p)

    p = commands.add_parser("remove", help="remove a condition, or an assembly with its data")
    p.add_argument("kind", choices=("condition", "assembly"))
    p.add_argument("name")
    _common(p)

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
        default=os.environ.get("PEAKSQL_TLS_SERVER_NAME", "localhost"),
        help="name the certificate must hold (env PEAKSQL_TLS_SERVER_NAME; default localhost)",
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

    p = commands.add_parser(
        "example", help="build a catalog from the bundled example (2 Mb of human chr20)"
    )
    _common(p)
    return parser


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from peaksql.server.catalog.database import open_database

    data_dir = resolve_data_dir(args.data_dir)
    return open_database(resolve_db(args.db, data_dir)), data_dir


def _cmd_add_assembly(args: argparse.Namespace) -> None:
    from peaksql.server.ingest.assembly import add_assembly

    engine, data_dir = _open(args)
    info = add_assembly(
        engine, data_dir, args.fasta, args.name, args.species, progress=not args.quiet
    )
    print(
        f"added assembly {info.name}: {info.num_chromosomes} chromosomes, "
        f"{info.length:,} bp -> {data_dir / info.store_file}"
    )


def _cmd_add_data(args: argparse.Namespace) -> None:
    from peaksql.server.ingest.intervals import add_data

    if args.condition and len(args.files) > 1 and not args.append:
        raise InvalidArgument("--condition names one file's condition; add --append to merge")
    metadata = json.loads(args.metadata) if args.metadata else None
    engine, _ = _open(args)
    for path in args.files:
        info = add_data(
            engine,
            path,
            args.assembly,
            args.condition,
            args.format,
            append=args.append,
            metadata=metadata,
            progress=not args.quiet,
        )
        print(f"added {info.num_intervals:,} intervals to condition {info.condition}")


def _cmd_list(args: argparse.Namespace) -> None:
    from peaksql.server.catalog.queries import list_assemblies, list_conditions

    engine, _ = _open(args)
    found = list_assemblies(engine)
    conds = list_conditions(engine)
    if args.json:
        print(
            json.dumps(
                {
                    "assemblies": [a.as_dict() for a in found],
                    "conditions": [
                        {
                            "name": c.name,
                            "assembly": c.assembly,
                            "num_intervals": c.num_intervals,
                        }
                        for c in conds
                    ],
                },
                indent=2,
            )
        )
        return
    print("assemblies:" if found else "no assemblies yet: peaksql add-assembly FASTA --name NAME")
    for a in found:
        species = f" ({a.species})" if a.species else ""
        print(f"  {a.name}{species}: {len(a.chromosomes)} chromosomes, {a.length:,} bp")
    if conds:
        print("conditions:")
        width = max(len(c.name) for c in conds)
        for c in conds:
            print(f"  {c.name:<{width}}  {c.assembly}  {c.num_intervals:>10,} intervals")


def _cmd_remove(args: argparse.Namespace) -> None:
    engine, data_dir = _open(args)
    if args.kind == "condition":
        from peaksql.server.ingest.intervals import remove_condition

        removed = remove_condition(engine, args.name)
        print(f"removed condition {args.name} ({removed:,} intervals)")
    else:
        from peaksql.server.ingest.assembly import remove_assembly

        remove_assembly(engine, data_dir, args.name)
        print(f"removed assembly {args.name} and everything on it")


def _cmd_serve(args: argparse.Namespace) -> None:
    from peaksql.server.rpc.logs import configure_logging
    from peaksql.server.rpc.serve import serve_forever

    configure_logging(_setting(args.log_format, "PEAKSQL_LOG_FORMAT", str, "json"))
    serve_forever(_serve_config(args))


def _cmd_migrate(args: argparse.Namespace) -> None:
    from peaksql.server.catalog.database import schema_revision

    engine, _ = _open(args)
    print(f"catalog schema at revision {schema_revision(engine)}")
    if args.reader_role:
        from peaksql.server.catalog.roles import grant_read_only

        password_file = args.reader_password_file
        password = Path(password_file).read_text().strip() if password_file else None
        for warning in grant_read_only(engine, args.reader_role, password):
            print(f"warning: {warning}", file=sys.stderr)
        print(f"role {args.reader_role} may read the catalog and nothing else")


def _cmd_healthcheck(args: argparse.Namespace) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    address = args.address or f"127.0.0.1:{os.environ.get('PEAKSQL_PORT') or 50051}"
    if args.tls_ca:
        key, cert = (Path(name).read_bytes() if name else None for name in (args.key, args.cert))
        credentials = grpc.ssl_channel_credentials(Path(args.tls_ca).read_bytes(), key, cert)
        options = [("grpc.ssl_target_name_override", args.server_name)]
        channel = grpc.secure_channel(address, credentials, options=options)
    else:
        channel = grpc.insecure_channel(address)
    with channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=args.timeout
            )
        except grpc.RpcError as error:
            status = f"{error.code().name}: {error.details()}"
        else:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if status != "SERVING":  # exit 1 is "unhealthy" to Docker (2 is reserved)
        print(f"{address}: {status}", file=sys.stderr)
        raise SystemExit(1)
    print(f"{address}: {status}")


def _cmd_example(args: argparse.Namespace) -> None:
    from peaksql.server.ingest.example import build_example

    engine, data_dir = _open(args)
    build_example(engine, data_dir, progress=not args.quiet)
    args.json = False
    _cmd_list(args)


COMMANDS = {
    "add-assembly": _cmd_add_assembly,
    "add-data": _cmd_add_data,
    "list": _cmd_list,
    "remove": _cmd_remove,
    "serve": _cmd_serve,
    "migrate": _cmd_migrate,
    "healthcheck": _cmd_healthcheck,
    "example": _cmd_example,
}


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


if __name__ == "__main__":
    sys.exit(main())
