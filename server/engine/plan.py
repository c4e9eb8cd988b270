"""Compile a dataset spec into a Plan: SQL runs here once, everything after is array code.

spec -> (constraint -> regions (SQL) + matching intervals (interval store, ``store_rows``))
     -> windows (``samplings``, then ``n_filter``) + label coverage -> Plan

SQL reads only the small tables; intervals come from the memory-mapped store, filtered by
the constraint's interval terms in numpy (``store_filter``), never row by row through SQL.

Plans are cached by spec and catalog version (``PlanCache``) so concurrent streams of the
same dataset share one; a change to the catalog (an ingest, a removal) makes new plans.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields

import numpy as np
import sqlalchemy as sa

from peaksql.core.errors import InvalidArgument, NotFound
from peaksql.core.label_modes import get_label_mode
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.interval_store import IntervalStore
from peaksql.server.catalog.schema import assemblies, chromosomes, conditions
from peaksql.server.engine import index_kernels
from peaksql.server.engine.constraints import Where, parse_where
from peaksql.server.engine.labels import Coverage
from peaksql.server.engine.n_filter import drop_n_windows
from peaksql.server.engine.samplings import Source, build_windows
from peaksql.server.engine.store_rows import (
    Selected,
    chromosome_tables,
    part_rows,
    select_intervals,
)
from peaksql.server.engine.windows import WindowSet


@dataclass
class Plan:
    """Everything needed to build any batch of one dataset, without SQL."""

    spec: DatasetSpec
    key: str
    where: Where
    region_names: list[tuple[str, str]]  # (assembly, chromosome)
    region_lengths: np.ndarray  # int64 (R,)
    genomes: list[np.ndarray]  # memmap of each assembly the plan uses
    region_assembly: np.ndarray  # int64 (R,): index into genomes
    region_store_offsets: np.ndarray  # int64 (R,): chromosome start in its store
    region_bases: np.ndarray  # int64 (R,): chromosome start in plan coordinates
    windows: WindowSet
    label_columns: list[str]
    coverage: Coverage
    compile_seconds: float = 0.0
    _positives: np.ndarray | None = field(default=None, repr=False)

    @property
    def num_windows(self) -> int:
        return self.windows.num_windows

    @property
    def inner_length(self) -> int:
        return self.spec.inner_range or self.spec.seq_length

    @property
    def inner_offset(self) -> int:
        return (self.spec.seq_length - self.inner_length) // 2

    @property
    def label_shape(self) -> tuple[int, ...]:
        return get_label_mode(self.spec.label).shape(len(self.label_columns), self.inner_length)


#: Times a plan reads the parts' rows again when a removal deleted a part it was opening.
_ATTEMPTS = 3


def spec_key(spec: DatasetSpec, where: Where) -> str:
    """A canonical text of everything that shapes a plan: every spec field, the where in
    normal form."""
    values = [where.canonical if f.name == "where" else getattr(spec, f.name) for f in fields(spec)]
    return repr(tuple(values))


def _region_columns() -> dict[str, sa.ColumnElement]:
    return {
        "assembly": assemblies.c.name,
        "species": assemblies.c.species,
        "chromosome": chromosomes.c.name,
        "chromosome_length": chromosomes.c.length,
    }


def compile_plan(
    engine: sa.Engine,
    store: GenomeStore,
    spec: DatasetSpec,
    where: Where | None = None,
    intervals: IntervalStore | None = None,
) -> Plan:
    """Read the small tables once, the matching intervals from the store, and build the
    spec's windows and label coverage.

    ``where`` is the spec's constraint already parsed (under the server's limits); without
    it the constraint is parsed here with the default limits. ``intervals`` is the store
    of parts (default: the one beside ``store``'s genomes).
    """
    began = time.perf_counter()
    if where is None:
        where = parse_where(spec.where)
    if intervals is None:
        intervals = IntervalStore(store.data_dir)
    for attempt in range(_ATTEMPTS):
        with engine.connect() as connection:
            regions = _select_regions(connection, where)
            if not regions:
                raise NotFound(
                    f"no chromosome matches the constraint {spec.where!r}"
                    if spec.where.strip()
                    else "the catalog holds no assembly: add one with 'peaksql add-assembly'"
                )
            region_ids = [r.id for r in regions]
            wanted = _condition_ids(connection, spec.conditions) if spec.conditions else None
            rows = part_rows(connection, wanted)
            tables = chromosome_tables(connection, {r.assembly_id for r in rows}, region_ids)
        try:
            selected = select_intervals(intervals, rows, tables, where)
            break
        except FileNotFoundError:
            # a removal committed between reading the rows and opening a part: its folder is
            # gone, and the rows read again no longer name it
            if attempt == _ATTEMPTS - 1:
                raise
    if wanted is None:
        names = {r.condition_id: r.condition for r in rows}
        present = np.flatnonzero(np.bincount(selected.condition_id, minlength=1))
        column_ids = sorted((int(i) for i in present), key=lambda i: names[i])
        label_columns = [names[i] for i in column_ids]
    else:
        label_columns, column_ids = list(spec.conditions), wanted
    plan = _assemble(spec, where, store, regions, label_columns, column_ids, selected)
    plan.compile_seconds = time.perf_counter() - began
    return plan


def _select_regions(connection: sa.Connection, where: Where) -> list[sa.Row]:
    query = (
        sa.select(
            chromosomes.c.id,
            assemblies.c.name.label("assembly"),
            assemblies.c.store_file,
            chromosomes.c.name,
            chromosomes.c.length,
            chromosomes.c.offset,
        )
        .select_from(chromosomes.join(assemblies))
        .order_by(assemblies.c.id, chromosomes.c.id)
    )
    clause = where.region_clause(_region_columns())
    if clause is not None:
        query = query.where(clause)
    return list(connection.execute(query))


def _condition_ids(connection: sa.Connection, names: tuple[str, ...]) -> list[int]:
    """Ids of the named conditions, in the order given; NotFound names the missing ones."""
    if len(set(names)) != len(names):
        raise InvalidArgument("conditions lists a condition twice")
    found: dict[str, int] = dict(
        connection.execute(
            sa.select(conditions.c.name, conditions.c.id).where(conditions.c.name.in_(names))
        ).all()
    )
    missing = [name for name in names if name not in found]
    if missing:
        raise NotFound(f"unknown condition(s): {', '.join(missing)}")
    return [found[name] for name in names]


def _assemble(
    spec: DatasetSpec,
    where: Where,
    store: GenomeStore,
    regions: list[sa.Row],
    label_columns: list[str],
    column_ids: list[int],
    selected: Selected,
) -> Plan:
    lengths = np.array([r.length for r in regions], dtype=np.int64)
    bases = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    region, starts, ends, centres = (
        selected.region, selected.start, selected.end, selected.centre
    )  # fmt: skip
    column = _lookup(np.array(column_ids, dtype=np.int64), selected.condition_id)
    coverage = _coverage(len(label_columns), column, bases[region], starts, ends, centres)
    store_files = list(dict.fromkeys(r.store_file for r in regions))
    genomes = [store.open(f) for f in store_files]
    region_assembly = np.array([store_files.index(r.store_file) for r in regions], np.int64)
    store_offsets = np.array([r.offset for r in regions], dtype=np.int64)
    source = Source(lengths, region, starts, ends, centres)
    windows: WindowSet = build_windows(spec, source, np.random.default_rng(spec.seed))
    if spec.max_n_fraction is not None:
        region_genomes = [genomes[a] for a in region_assembly]
        windows = drop_n_windows(
            spec, windows, region_genomes, store_offsets, lengths, bases, spec.max_n_fraction
        )
    return Plan(
        spec=spec,
        key=spec_key(spec, where),
        where=where,
        region_names=[(r.assembly, r.name) for r in regions],
        region_lengths=lengths,
        genomes=genomes,
        region_assembly=region_assembly,
        region_store_offsets=store_offsets,
        region_bases=bases,
        windows=windows,
        label_columns=label_columns,
        coverage=coverage,
    )


def _coverage(
    num_columns: int,
    column: np.ndarray,
    base: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    centres: np.ndarray,
) -> Coverage:
    """The overlap index of the labelled intervals, in plan coordinates. Parts come by
    condition and assembly, each sorted by start, so the merge usually needs no sort."""
    labelled = np.flatnonzero(column >= 0)
    if labelled.size < column.size:
        column, base = column[labelled], base[labelled]
        starts, ends, centres = starts[labelled], ends[labelled], centres[labelled]
    plan_starts = base + starts
    return Coverage.build(
        num_columns,
        column,
        plan_starts,
        base + ends,
        base + centres,
        presorted=bool(index_kernels.is_key_sorted(column, plan_starts)),
    )


def _lookup(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in ``keys`` (non-negative ids; -1 where absent), vectorised."""
    if keys.size == 0 or values.size == 0:
        return np.full(values.shape, -1, dtype=np.int64)
    table = np.full(int(max(keys.max(), values.max())) + 1, -1, dtype=np.int64)
    table[keys[::-1]] = np.arange(keys.size, dtype=np.int64)[::-1]  # first position wins
    return table[values]
