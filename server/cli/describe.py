"""``peaksql describe``: what a dataset spec resolves to, before any training run.

Against a server (``--address``, through ``peaksql.Client``) or a local catalog
(``--db``/``--data-dir``, the engine in process): windows, regions with windows per region,
label columns with positive counts and fractions, in aligned columns; ``--json`` for
machines; ``--plot FILE`` draws label balance, windows per region and a region view. The spec
options are DatasetSpec's fields (``spec_options``).
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peaksql.server.cli.spec_options import add_spec_options, spec_fields, spec_from_args
from peaksql.server.cli.table import Row, format_table

if TYPE_CHECKING:
    from peaksql.client import Description
    from peaksql.core.spec import DatasetSpec
    from peaksql.server.cli.sources import Windows

#: Regions printed without ``-v`` (``--json`` always has them all).
MAX_REGIONS_SHOWN = 30

EPILOG = """\
examples:
  peaksql describe --seq-length 1000 --stride 500 --where "chromosome != 'chr8'"
  peaksql describe --address gpu-data.lab:50051 --seq-length 1000 --label any \\
      --where "condition IN ('liver','heart')" --plot balance.png
  peaksql describe --seq-length 200 --around-intervals --max-jitter 50 --json
  peaksql describe --seq-length 1000 --plot out.png --plot-region chr20:100000-120000
"""


def add_describe_command(commands: argparse._SubParsersAction) -> None:
    """The ``describe`` subcommand; ``common`` adds --data-dir/--db/-q."""
    from peaksql.server.cli.parser import _common

    p = commands.add_parser(
        "describe",
        help="show what a dataset spec resolves to: windows, regions, label balance",
        description=textwrap.fill(
            "Resolve a dataset spec (the arguments of client.dataset) on a server "
            "(--address) or on a local catalog (--db/--data-dir) and show its windows, "
            "regions with windows per region, and label columns with positive counts and "
            "fractions. --plot draws label balance, windows per region and a region view of "
            "intervals and windows on one chromosome stretch.",
            width=88,
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_options(p)
    out = p.add_argument_group("where and how")
    out.add_argument("--address", help="server host:port (default: the local catalog)")
    out.add_argument("--token-file", help="bearer token file (env PEAKSQL_TOKEN_FILE)")
    out.add_argument("--tls-ca", help="CA of the server's certificate: TLS (env PEAKSQL_TLS_CA)")
    out.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds a server call may take (default %(default)g: counting positives "
        "genome-wide takes a while)",
    )
    out.add_argument("--json", action="store_true", help="machine-readable output")
    out.add_argument("-v", "--verbose", action="store_true", help="list every region")
    out.add_argument(
        "--no-positives",
        action="store_true",
        help="skip counting positives (a pass over every label: slow genome-wide)",
    )
    out.add_argument("--plot", type=Path, metavar="FILE", help="draw to FILE (.png, .pdf, .svg)")
    out.add_argument(
        "--plot-region",
        metavar="[ASM:]CHR[:START-END]",
        help="stretch of the region view, e.g. chr20:100000-120000 (default: around a window "
        "positive in many columns, max(10 kb, 20 windows) long)",
    )
    _common(p)


def _open_source(args: argparse.Namespace) -> Windows:
    from peaksql.server.cli.sources import LocalSource, RemoteSource

    if args.address:
        from peaksql import Client

        return RemoteSource(
            Client(
                args.address,
                token_file=args.token_file,
                root_certificates=args.tls_ca,
                timeout=args.timeout,
            )
        )
    from peaksql.server.cli.catalog import open_existing

    return LocalSource(*open_existing(args))


def _sampling(spec: DatasetSpec) -> str:
    name = getattr(spec, "sampling", "")
    value = getattr(spec, name, None)
    return name.replace("_", " ") if isinstance(value, bool) or value is None else f"{name} {value}"


def description_json(spec: DatasetSpec, d: Description, counted: bool) -> dict[str, Any]:
    """``describe --json``: the spec, windows, every region, label columns with fractions."""
    total = d.num_windows
    return {
        "spec": spec_fields(spec),
        "num_windows": total,
        "label_shape": list(d.label_shape),
        "region_constraint": d.region_constraint,
        "interval_constraint": d.interval_constraint,
        "regions": [
            {
                "assembly": r.assembly,
                "chromosome": r.chromosome,
                "length": r.length,
                "num_windows": r.num_windows,
            }
            for r in d.regions
        ],
        "positives_counted": counted,
        "label_columns": [
            {
                "name": name,
                "num_positive": n if counted else None,
                "fraction": (n / total if total else 0.0) if counted else None,
            }
            for name, n in zip(d.label_columns, d.num_positive, strict=True)
        ],
    }


def description_lines(
    spec: DatasetSpec, d: Description, counted: bool, verbose: bool = False
) -> list[str]:
    """The text of ``peaksql describe``: a summary, then regions and label columns tables."""
    shape = "".join(f"{n:,}, " for n in d.label_shape).rstrip(" ")
    if len(d.label_shape) > 1:
        shape = shape.rstrip(",")
    lines = [
        f"windows:   {d.num_windows:,} of {spec.seq_length:,} bp ({_sampling(spec)})",
        f"labels:    {spec.label}; y of a window has shape ({shape})",
        f"regions:   {d.region_constraint or 'every chromosome'}",
        f"intervals: {d.interval_constraint or 'every interval'}",
        "",
        f"regions ({len(d.regions):,}):",
    ]
    shown = d.regions if verbose else d.regions[:MAX_REGIONS_SHOWN]
    rows: list[Row] = [(r.assembly, r.chromosome, f"{r.length:,} bp", r.num_windows) for r in shown]
    lines += format_table(("assembly", "chromosome", "length", "windows"), rows, align="llrr")
    rest = d.regions[len(shown) :]
    if rest:
        more = sum(r.num_windows for r in rest)
        lines.append(f"  … {len(rest):,} more regions with {more:,} windows (-v lists them)")
    lines += ["", f"label columns ({len(d.label_columns):,}):"]
    if not counted:
        rows = [(name, "not counted", "") for name in d.label_columns]
    else:
        total = max(d.num_windows, 1)
        rows = [
            (name, n, f"{100 * n / total:.2f} %")
            for name, n in zip(d.label_columns, d.num_positive, strict=True)
        ]
    lines += format_table(("column", "positive windows", "fraction"), rows, align="lrr")
    if not d.label_columns:
        lines.append("  none: no condition has an interval the constraint matches")
    return lines


def cmd_describe(args: argparse.Namespace) -> None:
    """Describe the spec of the options; print text or JSON; draw the plot if asked."""
    spec = spec_from_args(args)
    if args.plot:
        from peaksql.server.cli.plot import require_matplotlib

        require_matplotlib()
    counted = not args.no_positives
    source = _open_source(args)
    try:
        description = source.describe(spec, count_positives=counted)
        plotted = _plot(args, source, spec, description, counted) if args.plot else None
    finally:
        source.close()
    if args.json:
        found = description_json(spec, description, counted)
        print(json.dumps({**found, "plot": str(plotted) if plotted else None}, indent=2))
        return
    print("\n".join(description_lines(spec, description, counted, args.verbose)))
    if plotted:
        print(f"\nplot: {plotted}")


def _plot(
    args: argparse.Namespace,
    source: Windows,
    spec: DatasetSpec,
    description: Description,
    counted: bool,
) -> Path:
    from peaksql.server.cli.plot import draw
    from peaksql.server.cli.region_view import region_view

    view = (
        region_view(source, spec, description, args.plot_region)
        if description.num_windows
        else None
    )
    return draw(args.plot, description, view, counted)
