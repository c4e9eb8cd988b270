"""A plan's intervals from the interval store: committed parts -> filtered columns -> arrays.

SQL reads only small tables here (parts, conditions, assemblies, chromosomes); the intervals
come from each part's memory-mapped columns, filtered by the constraint's interval terms
with ``store_filter``. Condition terms (``condition`` and metadata keys alone) have already
chosen the parts' conditions (``plan_conditions``, SQL on the small tables); the label terms
are evaluated here, and a column constant over a part (its condition's name and metadata
values, its assembly, species) is one 0-d value: a part that a constant term rejects is
never read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace

import numpy as np
import sqlalchemy as sa

from peaksql.core.errors import Unavailable
from peaksql.server.catalog.interval_store import (
    FLOAT_FIELDS,
    INTEGER_FIELDS,
    NO_INTEGER,
    TEXT_FIELDS,
    IntervalStore,
    Part,
)
from peaksql.server.catalog.schema import (
    assemblies,
    chromosomes,
    condition_metadata,
    conditions,
    intervals,
    parts,
)
from peaksql.server.engine.constraints import Where
from peaksql.server.engine.store_filter import Column, Metadata, Numeric, Text, constant, select


@dataclass(frozen=True)
class PartRow:
    """One committed part and the constants of its condition and assembly."""

    path: str
    condition_id: int
    condition: str
    assembly_id: int
    assembly: str
    species: str | None
    #: the metadata keys the constraint names: (text, number) of this part's condition
    metadata: dict[str, tuple[str | None, float | None]] = field(
        default_factory=dict, compare=False, hash=False
    )


@dataclass(frozen=True)
class Selected:
    """Matching intervals: plan region index, start/end/centre on the chromosome, and the
    condition id of each (in part order: by condition, then assembly)."""

    region: np.ndarray
    start: np.ndarray
    end: np.ndarray
    centre: np.ndarray
    condition_id: np.ndarray


def part_rows(
    connection: sa.Connection,
    condition_ids: list[int] | None,
    metadata_keys: Collection[str] = (),
) -> list[PartRow]:
    """Committed parts (of ``condition_ids`` if given), by condition name then assembly id,
    each with its condition's values of ``metadata_keys``."""
    _refuse_legacy_rows(connection)
    query = (
        sa.select(
            parts.c.path,
            parts.c.condition_id,
            conditions.c.name,
            parts.c.assembly_id,
            assemblies.c.name,
            assemblies.c.species,
        )
        .select_from(parts.join(conditions).join(assemblies))
        .order_by(parts.c.assembly_id, parts.c.id)
    )
    if condition_ids is not None:
        query = query.where(parts.c.condition_id.in_(condition_ids))
    rows = [PartRow(*row) for row in connection.execute(query)]
    if metadata_keys and rows:
        values = _metadata_values(connection, {r.condition_id for r in rows}, metadata_keys)
        empty = dict.fromkeys(metadata_keys, (None, None))
        rows = [replace(r, metadata={**empty, **values.get(r.condition_id, {})}) for r in rows]
    return sorted(rows, key=lambda r: r.condition)  # code-point order, stable


def _metadata_values(
    connection: sa.Connection, condition_ids: set[int], keys: Collection[str]
) -> dict[int, dict[str, tuple[str | None, float | None]]]:
    query = sa.select(
        condition_metadata.c.condition_id,
        condition_metadata.c.key,
        condition_metadata.c.value_text,
        condition_metadata.c.value_number,
    ).where(
        condition_metadata.c.condition_id.in_(sorted(condition_ids)),
        condition_metadata.c.key.in_(sorted(keys)),
    )
    values: dict[int, dict[str, tuple[str | None, float | None]]] = {}
    for condition_id, key, text, number in connection.execute(query):
        values.setdefault(condition_id, {})[key] = (text, number)
    return values


def presence(rows: list[PartRow], condition_ids: list[int], assembly_ids: list[int]) -> np.ndarray:
    """(A, C) bool: whether condition ``condition_ids[c]`` has a part among ``rows`` on
    assembly ``assembly_ids[a]`` (``rows`` read for at least those conditions)."""
    present = np.zeros((len(assembly_ids), len(condition_ids)), dtype=bool)
    column = {c: k for k, c in enumerate(condition_ids)}
    line = {a: k for k, a in enumerate(assembly_ids)}
    for row in rows:
        if row.condition_id in column and row.assembly_id in line:
            present[line[row.assembly_id], column[row.condition_id]] = True
    return present


def _refuse_legacy_rows(connection: sa.Connection) -> None:
    if connection.scalar(sa.select(intervals.c.id).limit(1)) is not None:
        raise Unavailable(
            "the catalog holds interval rows not yet converted into the interval store: "
            "run 'peaksql migrate' with its --data-dir"
        )


@dataclass(frozen=True)
class Chromosomes:
    """An assembly's chromosomes in id order (a part's ``chrom`` indexes these)."""

    names: list[str]
    lengths: np.ndarray
    offsets: np.ndarray
    region: np.ndarray  # plan region index of each, -1 when not selected


def chromosome_tables(
    connection: sa.Connection, assembly_ids: set[int], region_ids: list[int]
) -> dict[int, Chromosomes]:
    """Per assembly, its chromosomes and their plan region indices."""
    position = {rid: k for k, rid in enumerate(region_ids)}
    rows = connection.execute(
        sa.select(
            chromosomes.c.assembly_id,
            chromosomes.c.id,
            chromosomes.c.name,
            chromosomes.c.length,
            chromosomes.c.offset,
        )
        .where(chromosomes.c.assembly_id.in_(sorted(assembly_ids)))
        .order_by(chromosomes.c.id)
    ).all()
    tables: dict[int, Chromosomes] = {}
    for assembly_id in assembly_ids:
        mine = [r for r in rows if r.assembly_id == assembly_id]
        tables[assembly_id] = Chromosomes(
            [r.name for r in mine],
            np.array([r.length for r in mine], dtype=np.int64),
            np.array([r.offset for r in mine], dtype=np.int64),
            np.array([position.get(r.id, -1) for r in mine], dtype=np.int64),
        )
    return tables


def part_columns(part: Part, row: PartRow, table: Chromosomes) -> Callable[[str], Column]:
    """The column lookup ``store_filter`` evaluates one part with (memoised)."""
    cache: dict[str, Column] = {}

    def relative(values: np.ndarray) -> np.ndarray:
        return values - table.offsets[part.chrom]

    def make(name: str) -> Column:
        known = np.ones((), dtype=bool)
        if name in row.metadata:
            return Metadata(*row.metadata[name])
        if name in ("condition", "assembly", "species"):
            return constant({"condition": row.condition, "assembly": row.assembly}.get(
                name, row.species))  # fmt: skip
        if name == "chromosome":
            return Text(part.chrom, table.names)
        if name == "chromosome_length":
            return Numeric(table.lengths[part.chrom], known)
        if name in ("start", "end"):
            return Numeric(relative(part.start if name == "start" else part.end), known)
        if name == "length":
            return Numeric(part.end - part.start, known)
        if name in FLOAT_FIELDS or name in INTEGER_FIELDS:
            values = part.numeric(name)
            if values is None:
                return constant(None)
            missing = np.isnan(values) if name in FLOAT_FIELDS else values == NO_INTEGER
            return Numeric(values, ~missing)
        if name in TEXT_FIELDS:
            text = part.text(name)
            return constant(None) if text is None else Text(text.codes, text.table.tolist())
        raise KeyError(name)

    def lookup(name: str) -> Column:
        if name not in cache:
            cache[name] = make(name)
        return cache[name]

    return lookup


def select_intervals(
    store: IntervalStore,
    rows: list[PartRow],
    tables: dict[int, Chromosomes],
    where: Where | None,
) -> Selected:
    """The intervals of ``rows``' parts in the selected regions that the label terms keep
    (every one without ``where``; the condition terms chose ``rows`` already)."""
    terms = () if where is None else where.label_terms
    pieces: list[tuple[np.ndarray, ...]] = []
    for row in rows:
        part = store.part(row.path)
        table = tables[row.assembly_id]
        chosen = select(terms, part_columns(part, row, table))
        if chosen is None:
            continue
        region = table.region[part.chrom]
        keep = np.flatnonzero((region >= 0) & chosen)
        if keep.size == 0:
            continue
        chrom = part.chrom[keep]
        base = table.offsets[chrom]
        start, end = part.start[keep] - base, part.end[keep] - base
        summit = part.numeric("summit")
        centre = (start + end) // 2
        if summit is not None:
            peak = summit[keep]
            centre = np.where(peak != NO_INTEGER, start + peak, centre)
        condition = np.full(keep.size, row.condition_id, dtype=np.int64)
        pieces.append((region[keep], start, end, centre, condition))
    if not pieces:
        empty = np.zeros(0, dtype=np.int64)
        return Selected(empty, empty, empty, empty, empty)
    return Selected(*(np.concatenate(column) for column in zip(*pieces, strict=True)))
