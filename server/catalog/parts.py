"""Condition parts: which assemblies each condition has intervals on.

A condition (an experiment, one label column) is independent of assemblies; its part on
an assembly is the set of its intervals there, recorded as one ``condition_parts`` row
while the condition has any. Ingest adds the row (``ensure_part``) in the transaction that
adds the intervals; removals delete it with them. Plans read presence from here
(``presence``): a window on an assembly where a label column has no part cannot be labelled
by it, which ``missing="mask"`` marks instead of calling it negative.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa

from peaksql.server.catalog.schema import (
    condition_metadata,
    condition_parts,
    conditions,
    signal_tracks,
)


def ensure_part(connection: sa.Connection, condition_id: int, assembly_id: int) -> None:
    """Record that the condition has intervals on the assembly (once)."""
    found = connection.scalar(
        sa.select(sa.func.count())
        .select_from(condition_parts)
        .where(
            condition_parts.c.condition_id == condition_id,
            condition_parts.c.assembly_id == assembly_id,
        )
    )
    if not found:
        connection.execute(
            condition_parts.insert().values(condition_id=condition_id, assembly_id=assembly_id)
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
    query = sa.select(condition_parts.c.assembly_id, condition_parts.c.condition_id).where(
        condition_parts.c.condition_id.in_(list(column)),
        condition_parts.c.assembly_id.in_(list(row)),
    )
    for assembly_id, condition_id in connection.execute(query):
        present[row[assembly_id], column[condition_id]] = True
    return present


def delete_condition_rows(connection: sa.Connection, condition_id: int) -> None:
    """Delete the condition's parts, metadata and signal track rows (before the condition
    row itself).

    Explicit, not only ON DELETE CASCADE: a SQLite connection without ``PRAGMA foreign_keys``
    must leave no orphans either.
    """
    for table in (condition_parts, condition_metadata, signal_tracks):
        connection.execute(table.delete().where(table.c.condition_id == condition_id))


def delete_assembly_parts(connection: sa.Connection, assembly_id: int) -> None:
    """Delete every part on the assembly, then the conditions left with no part (and their
    metadata rows): removing an assembly removes the conditions that lived only there.
    Call after the assembly's intervals are deleted."""
    connection.execute(condition_parts.delete().where(condition_parts.c.assembly_id == assembly_id))
    # signal tracks' rows (their folders are swept as orphans: signal_store.sweep_orphans)
    connection.execute(signal_tracks.delete().where(signal_tracks.c.assembly_id == assembly_id))
    orphans = sa.select(conditions.c.id).where(
        ~sa.exists().where(condition_parts.c.condition_id == conditions.c.id)
    )
    orphan_ids = list(connection.scalars(orphans))
    if orphan_ids:
        connection.execute(
            condition_metadata.delete().where(condition_metadata.c.condition_id.in_(orphan_ids))
        )
        connection.execute(conditions.delete().where(conditions.c.id.in_(orphan_ids)))
