"""The ``peaksql`` command: ingest genomes and experiments, inspect the catalog, serve it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from peaksql.errors import InvalidArgument, PeakSQLError
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
        "NOT_SERVING, running streams get --grace seconds to finish.",
    )
    p.add_argument(
        "--host",
        default=os.environ.get("PEAKSQL_HOST", "127.0.0.1"),
        help="address to listen on (env PEAKSQL_HOST; 0.0.0.0 for every interface)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PEAKSQL_PORT", "50051")),
        help="port (env PEAKSQL_PORT; 0 picks a free one)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("PEAKSQL_WORKERS", "8")),
        help="concurrent RPCs (threads; batch kernels release the GIL)",
    )
    p.add_argument("--grace", type=float, default=10.0, help="seconds streams get to finish")
    _common(p)

    p = commands.add_parser(
        "migrate", help="create or upgrade the catalog schema (run once per upgrade)"
    )
    _common(p)

    p = commands.add_parser(
        "example", help="build a catalog from the bundled example (2 Mb of human chr20)"
    )
    _common(p)
    return parser


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from peaksql.server.db.engine import open_database

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
    from peaksql.server.catalog import list_assemblies
    from peaksql.server.ingest.intervals import list_conditions

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
    import logging

    from peaksql.server.config import ServerConfig
    from peaksql.server.serve import serve_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    data_dir = resolve_data_dir(args.data_dir)
    config = ServerConfig(
        db=resolve_db(args.db, data_dir),
        data_dir=data_dir,
        host=args.host,
        port=args.port,
        workers=args.workers,
        grace_seconds=args.grace,
    )
    serve_forever(config)


def _cmd_migrate(args: argparse.Namespace) -> None:
    from peaksql.server.db.engine import schema_revision

    engine, _ = _open(args)
    print(f"catalog schema at revision {schema_revision(engine)}")


def _cmd_example(args: argparse.Namespace) -> None:
    from peaksql.server.example_data import build_example

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
