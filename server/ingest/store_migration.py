"""Convert an older catalog's interval rows (the ``intervals`` table) into store parts.

Runs from ``open_database(db, data_dir=...)`` (so ``peaksql migrate`` and every command
that opens the catalog with its data dir), after the Alembic upgrade: per (condition,
assembly), its rows are read into one part (sorted, fsynced, renamed into place), then one
transaction inserts the ``parts`` row (the condition's presence there: revision 0004 drops
``condition_parts``, so this recreates it), deletes those interval rows and bumps the
generation. A crash leaves either the rows (the part folder is an orphan, swept next time)
or the part: running it again finishes the job, and a catalog without interval rows costs
one SELECT.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from peaksql.server.catalog.generation import bump_generation
from peaksql.server.catalog.interval_store import (
    FLOAT_FIELDS,
    INTEGER_FIELDS,
    NO_INTEGER,
    TEXT_FIELDS,
    delete_parts,
    writer_lock,
)
from peaksql.server.catalog.parts import insert_part
from peaksql.server.catalog.schema import chromosomes, conditions, intervals
from peaksql.server.ingest.intervals import sweep_orphans
from peaksql.server.ingest.store_writer import PartBuilder

_FETCH = 100_000


def convert_legacy_intervals(engine: sa.Engine, data_dir: Path) -> list[str]:
    """Move every condition's interval rows into a part; returns the conditions converted."""
    with engine.connect() as connection:
        pending = list(
            connection.execute(
                sa.select(conditions.c.id, conditions.c.name, chromosomes.c.assembly_id)
                .select_from(intervals)
                .join(conditions, conditions.c.id == intervals.c.condition_id)
                .join(chromosomes, chromosomes.c.id == intervals.c.chromosome_id)
                .distinct()
                .order_by(conditions.c.id, chromosomes.c.assembly_id)
            )
        )
    if not pending:
        return []
    sweep_orphans(engine, data_dir)
    for condition_id, _, assembly_id in pending:
        _convert(engine, data_dir, int(condition_id), int(assembly_id))
    return list(dict.fromkeys(name for _, name, _ in pending))


def _convert(engine: sa.Engine, data_dir: Path, condition_id: int, assembly_id: int) -> None:
    builder = PartBuilder()
    with engine.connect() as connection:
        ids = list(
            connection.scalars(
                sa.select(chromosomes.c.id)
                .where(chromosomes.c.assembly_id == assembly_id)
                .order_by(chromosomes.c.id)
            )
        )
        position = {chromosome_id: k for k, chromosome_id in enumerate(ids)}
        offsets = dict(
            connection.execute(
                sa.select(chromosomes.c.id, chromosomes.c.offset).where(
                    chromosomes.c.assembly_id == assembly_id
                )
            ).all()
        )
        fields = ("chromosome_id", "start", "end", *FLOAT_FIELDS, *INTEGER_FIELDS, *TEXT_FIELDS)
        query = sa.select(*(intervals.c[f] for f in fields)).where(
            intervals.c.condition_id == condition_id, intervals.c.chromosome_id.in_(ids)
        )
        cursor = connection.execute(query).cursor
        while rows := cursor.fetchmany(_FETCH):
            builder.add_columns(_columns(rows, fields, position, offsets), len(rows))
    with writer_lock(data_dir):
        name = builder.write(data_dir)
        try:
            with engine.begin() as connection:
                insert_part(connection, condition_id, assembly_id, name, len(builder))
                connection.execute(
                    intervals.delete().where(
                        intervals.c.condition_id == condition_id,
                        intervals.c.chromosome_id.in_(ids),
                    )
                )
                bump_generation(connection)
        except BaseException:
            delete_parts(data_dir, [name])
            raise


def _columns(
    rows: Sequence[Any], fields: tuple[str, ...], position: dict[int, int], offsets: dict[int, int]
) -> dict[str, object]:
    """Fetched rows -> the columns ``PartBuilder.add_columns`` takes (NULL as NaN/-1/None)."""
    by_field = dict(zip(fields, zip(*rows, strict=True), strict=True))
    chromosome_ids = by_field["chromosome_id"]
    base = np.array([offsets[c] for c in chromosome_ids], dtype=np.int64)
    columns: dict[str, object] = {
        "chrom": np.array([position[c] for c in chromosome_ids], dtype=np.int32),
        "start": base + np.array(by_field["start"], dtype=np.int64),
        "end": base + np.array(by_field["end"], dtype=np.int64),
    }
    for field in FLOAT_FIELDS:
        values = by_field[field]
        if any(v is not None for v in values):
            columns[field] = np.array([np.nan if v is None else v for v in values], np.float64)
    for field in INTEGER_FIELDS:
        values = by_field[field]
        if any(v is not None for v in values):
            columns[field] = np.array([NO_INTEGER if v is None else v for v in values], np.int64)
    for field in TEXT_FIELDS:
        values = by_field[field]
        if any(v is not None for v in values):
            columns[field] = list(values)
    return columns
