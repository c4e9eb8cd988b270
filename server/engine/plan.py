"""Compile a dataset spec into a Plan: SQL runs here once, everything after is array code.

spec -> (constraint -> regions + matching intervals) -> windows (``samplings``, then
``n_filter``) + label coverage -> Plan

Plans are cached by spec and catalog version (``PlanCache``) so concurrent streams of the
same dataset share one; a change to the catalog (an ingest, a removal) makes new plans.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import sqlalchemy as sa

from peaksql.core.errors import InvalidArgument, NotFound
from peaksql.core.label_modes import label_bits, label_shape, mark_missing
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.condition_metadata import metadata_keys
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.parts import presence
from peaksql.server.catalog.schema import assemblies, chromosomes, conditions, intervals
from peaksql.server.engine.constraints import Where, parse_where
from peaksql.server.engine.exclusion import (
    Exclusion,
    drop_excluded,
    excluded_condition_ids,
    load_exclusion,
)
from peaksql.server.engine.labels import Coverage
from peaksql.server.engine.n_filter import drop_n_windows
from peaksql.server.engine.plan_conditions import (
    check_condition_names,
    combine,
    condition_columns,
    selected_condition_ids,
    wanted_condition_ids,
)
from peaksql.server.engine.samplings import Source, build_windows
from peaksql.server.engine.signal_columns import SignalColumns, select_signal_columns
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
    coverage: Coverage | SignalColumns
    compile_seconds: float = 0.0
    #: Per label column, the column of its other strand (stranded signal pairs), else
    #: itself: reverse-complement augmentation swaps these and reverses the bins axis.
    strand_partner: np.ndarray | None = None
    #: (A, C) bool: whether label column c has intervals on the plan's assembly a
    column_presence: np.ndarray = field(default_factory=lambda: np.ones((1, 0), bool))
    #: (R,) int64: each region's assembly, as a row of ``column_presence``
    region_part: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    exclusion: Exclusion | None = None
    _positives: Any = field(default=None, repr=False)
    #: per-plan state of ``negatives``/``epochs`` (window classes, GC, epoch lists), lazily
    _training: dict = field(default_factory=dict, repr=False)

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
        return label_shape(self.spec, len(self.label_columns), self.inner_length)

    @property
    def label_bits(self) -> int:
        """Bits one window's labels take on the wire (``label_modes.label_bits`` a label)."""
        size = int(np.prod(self.label_shape, dtype=np.int64))
        return size * label_bits(self.spec)

    def column_assemblies(self) -> list[list[str]]:
        """Per label column, the plan's assemblies on which it has intervals."""
        names: list[str] = [""] * self.column_presence.shape[0]
        for (assembly, _), part in zip(self.region_names, self.region_part, strict=True):
            names[part] = assembly
        return [
            [names[a] for a in np.flatnonzero(self.column_presence[:, c])]
            for c in range(len(self.label_columns))
        ]

    def mark_missing(self, labels: np.ndarray, regions: np.ndarray) -> np.ndarray:
        """Labels of windows in ``regions`` under the spec's ``missing`` option: a column
        with no interval on a window's assembly cannot be known there (NaN under "mask")."""
        known = self.column_presence[self.region_part[regions]]
        return mark_missing(self.spec.missing, labels, known)


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


def _interval_columns(where: Where) -> dict[str, Any]:
    return {
        **_region_columns(),
        **condition_columns(where, conditions.c.id),
        "start": intervals.c.start,
        "end": intervals.c.end,
        "length": intervals.c.end - intervals.c.start,
        "name": intervals.c.name,
        "score": intervals.c.score,
        "strand": intervals.c.strand,
        "signal_value": intervals.c.signal_value,
        "p_value": intervals.c.p_value,
        "q_value": intervals.c.q_value,
        "summit": intervals.c.summit,
        "value": intervals.c.value,
    }


def compile_plan(
    engine: sa.Engine, store: GenomeStore, spec: DatasetSpec, where: Where | None = None
) -> Plan:
    """Run the spec's SQL once and build its windows and label coverage.

    ``where`` is the spec's constraint already parsed (under the server's limits, with the
    catalog's metadata keys); without it the constraint is parsed here with the default
    limits. Every condition name the spec gives must exist (NotFound, with a did-you-mean);
    a spec that selects no window raises InvalidArgument saying why.
    """
    began = time.perf_counter()
    with engine.connect() as connection:
        if where is None:
            where = parse_where(spec.where, metadata_keys=metadata_keys(connection))
        check_condition_names(connection, where.condition_names(), "the constraint")
        regions = _select_regions(connection, where)
        if not regions:
            raise NotFound(
                f"no chromosome matches the constraint {spec.where!r}"
                if spec.where.strip()
                else "the catalog holds no assembly: add one with 'peaksql add-assembly'"
            )
        region_ids = [r.id for r in regions]
        signals = select_signal_columns(connection, store.data_dir, spec, regions)
        wanted = None
        if signals is None and spec.conditions:
            wanted = wanted_condition_ids(connection, spec.conditions)
        chosen = combine(wanted, selected_condition_ids(connection, where))
        rows = _select_intervals(connection, where, region_ids, chosen)
        check_condition_names(connection, spec.exclude, "exclude")
        excluded = excluded_condition_ids(connection, spec.exclude)
        if excluded:  # excluded conditions are no label columns (exclusion.py)
            rows = rows[~np.isin(rows[:, 1], excluded)]
        exclusion = _exclusion(connection, spec, regions, excluded)
        assembly_ids = list(dict.fromkeys(r.assembly_id for r in regions))
        if signals is not None:  # signal labels: intervals only place windows
            label_columns, column_ids = signals.names, []
            present = signals.presence(len(assembly_ids))
        else:
            label_columns, column_ids = _interval_columns_of(connection, spec, rows, wanted)
            present = presence(connection, column_ids, assembly_ids)
    plan = _assemble(spec, where, store, regions, label_columns, column_ids, rows, exclusion)
    plan.column_presence = present
    plan.region_part = np.array([assembly_ids.index(r.assembly_id) for r in regions], np.int64)
    if signals is not None:
        signals.bind(plan.region_bases, plan.region_store_offsets, plan.region_assembly)
        plan.coverage, plan.strand_partner = signals, signals.strand_partner
    else:
        plan.strand_partner = np.arange(len(label_columns), dtype=np.int64)
    check_windows(plan, rows.shape[0])
    plan.compile_seconds = time.perf_counter() - began
    return plan


def _interval_columns_of(
    connection: sa.Connection, spec: DatasetSpec, rows: np.ndarray, wanted: list[int] | None
) -> tuple[list[str], list[int]]:
    """(names, condition ids) of an interval plan's label columns."""
    if wanted is None:
        label_columns = _label_columns_of(connection, np.unique(rows[:, 1]))
    else:
        label_columns = list(spec.conditions)
    return label_columns, wanted or _condition_ids(connection, tuple(label_columns))


def _exclusion(
    connection: sa.Connection, spec: DatasetSpec, regions: list[sa.Row], excluded: list[int]
) -> Exclusion | None:
    """The excluded conditions' intervals on the plan's regions (``exclusion.py``)."""
    lengths = np.array([r.length for r in regions], dtype=np.int64)
    bases = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    region_ids = [r.id for r in regions]
    return load_exclusion(
        connection, excluded, region_ids, bases, spec.seq_length, spec.exclude_fraction
    )


def _select_regions(connection: sa.Connection, where: Where) -> list[sa.Row]:
    query = (
        sa.select(
            chromosomes.c.id,
            assemblies.c.id.label("assembly_id"),
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


def _interval_source() -> sa.FromClause:
    return intervals.join(conditions).join(chromosomes).join(assemblies)


def _condition_ids(connection: sa.Connection, names: tuple[str, ...]) -> list[int]:
    """Ids of the named conditions, in the order given (names known to exist)."""
    found: dict[str, int] = dict(
        connection.execute(
            sa.select(conditions.c.name, conditions.c.id).where(conditions.c.name.in_(names))
        ).all()
    )
    return [found[name] for name in names]


def _label_columns_of(connection: sa.Connection, condition_ids: np.ndarray) -> list[str]:
    """Names of the conditions with a matching interval, sorted by code point.

    Sorted here: ORDER BY follows the database collation, which differs between SQLite
    (binary) and a PostgreSQL database created with a locale.
    """
    if condition_ids.size == 0:
        return []
    query = sa.select(conditions.c.name).where(conditions.c.id.in_([int(i) for i in condition_ids]))
    return sorted(connection.scalars(query))


#: Interval columns a plan reads, as integers (a missing summit is -1).
_PLAN_COLUMNS = 5


def _select_intervals(
    connection: sa.Connection,
    where: Where,
    region_ids: list[int],
    condition_ids: list[int] | None,
) -> np.ndarray:
    """(n, 5) int64: chromosome id, condition id, start, end, summit of matching intervals
    (of the conditions ``condition_ids`` when given: the condition terms' selection).

    Integers only, read from the DBAPI cursor straight into numpy: building a Row object
    per interval would cost seconds over a million intervals.
    """
    query = (
        sa.select(
            intervals.c.chromosome_id,
            intervals.c.condition_id,
            intervals.c.start,
            intervals.c.end,
            sa.func.coalesce(intervals.c.summit, -1),
        )
        .select_from(_interval_source())
        .where(intervals.c.chromosome_id.in_(region_ids))
    )
    clause = where.label_clause(_interval_columns(where))
    if clause is not None:
        query = query.where(clause)
    if condition_ids is not None:
        query = query.where(intervals.c.condition_id.in_(condition_ids))
    cursor = connection.execute(query).cursor
    chunks = []
    while rows := cursor.fetchmany(100_000):
        chunks.append(np.array(rows, dtype=np.int64).reshape(-1, _PLAN_COLUMNS))
    if not chunks:
        return np.zeros((0, _PLAN_COLUMNS), dtype=np.int64)
    return np.concatenate(chunks)


def _assemble(
    spec: DatasetSpec,
    where: Where,
    store: GenomeStore,
    regions: list[sa.Row],
    label_columns: list[str],
    column_ids: list[int],
    rows: np.ndarray,
    exclusion: Exclusion | None = None,
) -> Plan:
    lengths = np.array([r.length for r in regions], dtype=np.int64)
    bases = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    region = _lookup(np.array([r.id for r in regions], dtype=np.int64), rows[:, 0])
    column = _lookup(np.array(column_ids, dtype=np.int64), rows[:, 1])
    starts, ends, summit = rows[:, 2], rows[:, 3], rows[:, 4]
    centres = np.where(summit >= 0, starts + summit, (starts + ends) // 2)

    labelled = column >= 0
    coverage = Coverage.build(
        len(label_columns),
        column[labelled],
        (bases[region] + starts)[labelled],
        (bases[region] + ends)[labelled],
        (bases[region] + centres)[labelled],
    )
    store_files = list(dict.fromkeys(r.store_file for r in regions))
    genomes = [store.open(f) for f in store_files]
    region_assembly = np.array([store_files.index(r.store_file) for r in regions], np.int64)
    store_offsets = np.array([r.offset for r in regions], dtype=np.int64)
    source = Source(lengths, region, starts, ends, centres, exclusion)
    windows: WindowSet = build_windows(spec, source, np.random.default_rng(spec.seed))
    windows = drop_excluded(windows, exclusion)
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
        exclusion=exclusion,
    )


def check_windows(plan: Plan, num_intervals: int) -> None:
    """InvalidArgument saying why, when the spec selects no window at all."""
    if plan.num_windows:
        return
    spec = plan.spec
    longest = int(plan.region_lengths.max())
    if spec.seq_length > longest:
        chromosome = plan.region_names[int(plan.region_lengths.argmax())]
        why = (
            f"seq_length {spec.seq_length} is longer than every selected chromosome (the "
            f"longest is {chromosome[1]} of {chromosome[0]}, {longest:,} bp)"
        )
    elif spec.sampling == "around_intervals" and num_intervals == 0:
        why = "no interval matches the constraint and conditions, so around_intervals has none"
    elif spec.max_n_fraction is not None:
        why = f"every window has a fraction of N bases over max_n_fraction={spec.max_n_fraction}"
    else:
        why = "no window fits the selected regions"
    raise InvalidArgument(f"the dataset has no window: {why}")


def _lookup(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in ``keys`` (-1 where absent), vectorised."""
    if keys.size == 0:
        return np.full(values.shape, -1, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    positions = order[np.minimum(np.searchsorted(keys[order], values), keys.size - 1)]
    return np.where(keys[positions] == values, positions, -1)
