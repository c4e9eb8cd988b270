"""What each ``peaksql`` command does, given its parsed arguments (see ``parser``).

Heavy imports (SQLAlchemy, numba, gRPC) happen inside the commands, so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from peaksql.core.errors import InvalidArgument
from peaksql.server.cli.catalog import open_existing
from peaksql.server.cli.describe import cmd_describe
from peaksql.server.cli.listing import cmd_list
from peaksql.server.cli.serve_settings import serve_config
from peaksql.server.config import resolve_data_dir, resolve_db, server_defaults

if TYPE_CHECKING:
    import sqlalchemy as sa


def _open(args: argparse.Namespace) -> tuple[sa.Engine, Path]:
    from peaksql.server.catalog.database import open_database

    data_dir = resolve_data_dir(args.data_dir)
    return open_database(resolve_db(args.db, data_dir), data_dir=data_dir), data_dir


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
    from peaksql.server.catalog.interval_store import bind_data_dir
    from peaksql.server.ingest.formats import is_signal_format
    from peaksql.server.ingest.intervals import add_data_files
    from peaksql.server.ingest.scratch import sweep

    if args.condition and len(args.files) > 1 and not args.append:
        raise InvalidArgument("--condition names one file's condition; add --append to merge")
    metadata = json.loads(args.metadata) if args.metadata else None
    engine, data_dir = _open(args)
    bind_data_dir(engine, data_dir)
    strand = {".": "", None: None}.get(args.strand, args.strand)
    if strand == "+-":
        _add_pair(args, engine, data_dir, metadata)
        return
    sweep(data_dir)
    infos = add_data_files(  # one transaction: a bad file stores none of the files
        engine,
        args.files,
        args.assembly,
        args.condition,
        args.format,
        append=args.append,
        metadata=metadata,
        progress=not args.quiet,
        chromosome_aliases=args.chromosome_aliases,
        skip_unknown_chromosomes=args.skip_unknown_chromosomes,
        strand=strand,
    )
    for info in infos:
        if info.note:
            print(info.note)
        skipped = info.describe_skipped()
        extra = f" (skipped {skipped})" if skipped else ""
        what = "signal runs" if is_signal_format(info.format) else "intervals"
        print(f"added {info.num_intervals:,} {what} to condition {info.condition}{extra}")


def _add_pair(
    args: argparse.Namespace, engine: sa.Engine, data_dir: Path, metadata: dict | None
) -> None:
    """``--strand +-``: two files, the + and the - track of one signal condition."""
    from peaksql.server.ingest.signals import add_stranded_pair

    if len(args.files) != 2:
        raise InvalidArgument("--strand +- takes two files: the + track, then the - track")
    plus, minus = args.files
    runs = add_stranded_pair(
        engine,
        plus,
        minus,
        args.assembly,
        args.condition,
        metadata=metadata,
        chromosome_aliases=args.chromosome_aliases,
        skip_unknown_chromosomes=args.skip_unknown_chromosomes,
        data_dir=data_dir,
    )
    print(f"added a stranded pair of {runs:,} runs")


def _cmd_remove(args: argparse.Namespace) -> None:
    engine, data_dir = open_existing(args)
    if args.kind == "condition":
        from peaksql.server.ingest.intervals import remove_condition

        removed = remove_condition(engine, args.name, data_dir=data_dir)
        print(f"removed condition {args.name} ({removed})")
    else:
        from peaksql.server.ingest.assembly import remove_assembly

        remove_assembly(engine, data_dir, args.name)
        print(f"removed assembly {args.name} and everything on it")


def _cmd_serve(args: argparse.Namespace) -> None:
    from peaksql.server.rpc.logs import configure_logging
    from peaksql.server.rpc.serve import serve_forever

    config = serve_config(args)
    configure_logging(config.log_format)
    serve_forever(config)


def _cmd_migrate(args: argparse.Namespace) -> None:
    from peaksql.server.catalog.database import open_database, schema_revision
    from peaksql.server.catalog.interval_store import store_root
    from peaksql.server.catalog.signal_store import sweep_orphans as sweep_signal_orphans
    from peaksql.server.ingest.intervals import sweep_orphans
    from peaksql.server.ingest.scratch import sweep
    from peaksql.server.ingest.signal_migration import upgrade_tracks
    from peaksql.server.ingest.store_migration import convert_legacy_intervals

    data_dir = resolve_data_dir(args.data_dir)
    engine = open_database(resolve_db(args.db, data_dir), migrate=True)
    print(f"catalog schema at revision {schema_revision(engine)}")
    converted = convert_legacy_intervals(engine, data_dir)  # interval rows -> store parts
    if converted:
        print(f"moved the intervals of {len(converted)} conditions into the interval store")
    removed = sweep(data_dir)
    if removed:
        print(f"removed {len(removed)} leftover temporary files of interrupted ingests")
    orphans = sweep_orphans(engine, data_dir) if store_root(data_dir).is_dir() else []
    if orphans:
        print(f"removed {len(orphans)} interval store parts of interrupted ingests or removals")
    tracks = sweep_signal_orphans(engine, data_dir)
    if tracks:
        print(f"removed {len(tracks)} signal tracks of interrupted ingests or removals")
    rebuilt = upgrade_tracks(engine, data_dir, progress=print)
    if rebuilt:
        print(f"rebuilt {len(rebuilt)} signal tracks of earlier versions (zoom cells, index)")
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

    port = os.environ.get("PEAKSQL_PORT") or server_defaults()["port"]
    address = args.address or f"127.0.0.1:{port}"
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
    engine.dispose()
    cmd_list(argparse.Namespace(data_dir=args.data_dir, db=args.db, json=False, verbose=False))


COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    "add-assembly": _cmd_add_assembly,
    "add-data": _cmd_add_data,
    "list": cmd_list,
    "describe": cmd_describe,
    "remove": _cmd_remove,
    "serve": _cmd_serve,
    "migrate": _cmd_migrate,
    "healthcheck": _cmd_healthcheck,
    "example": _cmd_example,
}
