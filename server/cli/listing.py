"""``peaksql list``: assemblies and conditions in aligned columns, or JSON with everything.

A condition shows its interval count, or for a signal condition the runs of its tracks.
Condition metadata (the JSON given to ``add-data --metadata``) is shown compactly, cut to
:data:`METADATA_WIDTH` characters unless ``-v``; ``-v`` also lists each assembly's
chromosomes. ``--json`` carries the metadata as JSON objects and every chromosome.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from peaksql.server.cli.catalog import HOW_TO_MAKE_ONE, open_existing
from peaksql.server.cli.table import format_table

if TYPE_CHECKING:
    import sqlalchemy as sa

    from peaksql.server.catalog.queries import AssemblyRecord, ConditionInfo

#: Widest metadata text ``peaksql list`` prints without ``-v``.
METADATA_WIDTH = 60


def condition_metadata(engine: sa.Engine) -> dict[str, Any]:
    """Each condition's metadata, parsed from its JSON (kept as text if it is not JSON)."""
    import sqlalchemy as sa

    from peaksql.server.catalog.schema import conditions

    query = sa.select(conditions.c.name, conditions.c.metadata)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    parsed: dict[str, Any] = {}
    for name, text in rows:
        try:
            parsed[name] = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed[name] = text
    return parsed


def _metadata_text(metadata: Any, verbose: bool) -> str:
    if metadata is None:
        return ""
    text = metadata if isinstance(metadata, str) else json.dumps(metadata, ensure_ascii=False)
    if not verbose and len(text) > METADATA_WIDTH:
        text = text[: METADATA_WIDTH - 1] + "…"
    return text


def listing_json(
    found: list[AssemblyRecord], conds: list[ConditionInfo], metadata: dict[str, Any]
) -> dict[str, Any]:
    """``peaksql list --json``: assemblies with chromosomes, conditions with metadata."""
    return {
        "assemblies": [a.as_dict() for a in found],
        "conditions": [
            {
                "name": c.name,
                "assembly": c.assembly,
                "num_intervals": c.num_intervals,
                "num_runs": c.num_runs,
                "num_tracks": c.num_tracks,
                "metadata": metadata.get(c.name),
                "source_file": c.source_file,
            }
            for c in conds
        ],
    }


def listing_lines(
    found: list[AssemblyRecord],
    conds: list[ConditionInfo],
    metadata: dict[str, Any],
    verbose: bool = False,
) -> list[str]:
    """The text of ``peaksql list``: two tables, and each assembly's chromosomes with ``-v``."""
    if not found:
        return ["no assemblies yet: peaksql add-assembly FASTA --name NAME (or: peaksql example)"]
    lines = ["assemblies:"]
    rows = [(a.name, a.species or "", a.num_chromosomes, f"{a.length:,} bp") for a in found]
    lines += format_table(("name", "species", "chromosomes", "length"), rows, align="llrr")
    if verbose:
        for a in found:
            lines += ["", f"chromosomes of {a.name}:"]
            chroms = [(name, f"{n:,} bp") for name, n in a.chromosomes]
            lines += format_table(("name", "length"), chroms, align="lr")
    lines.append("")
    if not conds:
        lines.append("no conditions yet: peaksql add-data FILE --assembly NAME")
        return lines
    lines.append("conditions:")
    cells = [
        (c.name, c.assembly, *_counts(c), _metadata_text(metadata.get(c.name), verbose))
        for c in conds
    ]
    lines += format_table(("name", "assembly", "intervals", "signal runs", "metadata"), cells)
    return lines


def _counts(condition: ConditionInfo) -> tuple[int | None, int | None]:
    """The intervals and signal runs cells: a signal condition shows the runs of its tracks
    and no interval count, an interval condition the other way round."""
    if not condition.num_tracks:
        return condition.num_intervals, None
    return condition.num_intervals or None, condition.num_runs


def cmd_list(args: argparse.Namespace) -> None:
    """``peaksql list [-v] [--json]`` on an existing catalog (never creates one)."""
    from peaksql.server.catalog.queries import list_assemblies, list_conditions

    engine, _ = open_existing(args)
    try:
        found, conds = list_assemblies(engine), list_conditions(engine)
        metadata = condition_metadata(engine)
    finally:
        engine.dispose()
    if getattr(args, "json", False):
        print(json.dumps(listing_json(found, conds, metadata), indent=2))
        return
    print("\n".join(listing_lines(found, conds, metadata, getattr(args, "verbose", False))))


__all__ = ["HOW_TO_MAKE_ONE", "cmd_list", "condition_metadata", "listing_json", "listing_lines"]
