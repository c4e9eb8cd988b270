"""Condition parts: which assemblies each condition has intervals on.

A condition (an experiment, one label column) is independent of assemblies; its part on
an assembly is the set of its intervals there, stored as columnar files in the interval
store (``interval_store``) and recorded as ``parts`` rows (one per ingested file; an
``append`` adds another) while the condition has any. Ingest inserts the rows in the
transaction that commits the files; removals delete them (then the files). ``parts`` is
the one table of (condition, assembly) presence. Plans read presence from here
(``presence``): a window on an assembly where a label column has no part cannot be labelled
by it, which ``missing="mask"`` marks instead of calling it negative. A signal condition's
presence is its ``signal_tracks`` rows (``signal_store``); a condition with neither parts nor
tracks is an orphan.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa

from peaksql.server.catalog.schema import condition_metadata, conditions, parts, signal_tracks


def insert_part(
    connection: sa.Connection,
    condition_id: int,
    assembly_id: int,
    path: str,
    num_intervals: int,
    source_file: str | None = None,
) -> None:
    """Record one stored part of the condition on the assembly (its files already in place)."""
    connection.execute(
        parts.insert().values(
            condition_id=condition_id,
            assembly_id=assembly_id,
            path=path,
            num_intervals=num_intervals,
            source_file=source_file,
        )
    )


def presence(
    connection: sa.Connection, condition_ids: Sequence[int], assembly_ids: Sequence[int]
) -> np.ndarray:
    """(A, C) bool: whether condition ``condition_ids[c]`` has intervals on assembly
    ``assembly_ids[a]``. One query over the small parts table."""
    present = np.zeros((len(assembly_ids), len(condition_ids)), dtype=bool)
    if not condition_ids or not assembly_ids:
        return present
    column = {int(c): k for k, c in enumerate(condition_ids)}
    row = {int(a): k for k, a in enumerate(assembly_ids)}
    query = (
        sa.select(parts.c.assembly_id, parts.c.condition_id)
        .where(parts.c.condition_id.in_(list(column)), parts.c.assembly_id.in_(list(row)))
        .distinct()
    )
    for assembly_id, condition_id in connection.execute(query):
        present[row[assembly_id], column[condition_id]] = True
    return present


def delete_condition_rows(
    connection: sa.Connection, condition_id: int
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Delete the condition's parts, metadata and signal track rows (before the condition
    row itself); returns the deleted parts' (path, num_intervals) and tracks' (path,
    num_runs), whose folders the caller deletes after the commit.

    Explicit, not only ON DELETE CASCADE: a SQLite connection without ``PRAGMA foreign_keys``
    must leave no orphans either.
    """
    part_rows = connection.execute(
        sa.select(parts.c.path, parts.c.num_intervals).where(parts.c.condition_id == condition_id)
    ).all()
    track_rows = connection.execute(
        sa.select(signal_tracks.c.path, signal_tracks.c.num_runs).where(
            signal_tracks.c.condition_id == condition_id
        )
    ).all()
    for table in (parts, condition_metadata, signal_tracks):
        connection.execute(table.delete().where(table.c.condition_id == condition_id))
    return [(str(p), int(n)) for p, n in part_rows], [(str(p), int(n)) for p, n in track_rows]


def delete_assembly_parts(connection: sa.Connection, assembly_id: int) -> list[str]:
    """Delete every part on the assembly, then the conditions left with no part (and their
    metadata rows): removing an assembly removes the conditions that lived only there.
    Returns the deleted parts' paths, whose folders the caller deletes after the commit."""
    removed = list(
        connection.scalars(sa.select(parts.c.path).where(parts.c.assembly_id == assembly_id))
    )
    connection.execute(parts.delete().where(parts.c.assembly_id == assembly_id))
    # signal tracks' rows (their folders are swept as orphans: signal_store.sweep_orphans)
    connection.execute(signal_tracks.delete().where(signal_tracks.c.assembly_id == assembly_id))
    orphans = sa.select(conditions.c.id).where(
        ~sa.exists().where(parts.c.condition_id == conditions.c.id),
        ~sa.exists().where(signal_tracks.c.condition_id == conditions.c.id),
    )
    orphan_ids = list(connection.scalars(orphans))
    if orphan_ids:
        connection.execute(
            condition_metadata.delete().where(condition_metadata.c.condition_id.in_(orphan_ids))
        )
        connection.execute(conditions.delete().where(conditions.c.id.in_(orphan_ids)))
    return [str(path) for path in removed]
