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
from typing import Any

import numpy as np
import sqlalchemy as sa

from peaksql.core.errors import InvalidArgument, NotFound
from peaksql.core.label_modes import get_label_mode, label_bits, label_shape, mark_missing
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.condition_metadata import metadata_keys
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.interval_store import IntervalStore
from peaksql.server.catalog.schema import assemblies, chromosomes
from peaksql.server.engine import index_kernels
from peaksql.server.engine.constraints import Where, parse_where
from peaksql.server.engine.exclusion import (
    Exclusion,
    drop_excluded,
    load_exclusion,
)
from peaksql.server.engine.labels import Coverage
from peaksql.server.engine.n_filter import drop_n_windows
from peaksql.server.engine.plan_conditions import (
    check_condition_names,
    combine,
    named_condition_ids,
    selected_condition_ids,
    wanted_condition_ids,
)
from peaksql.server.engine.samplings import Source, build_windows
from peaksql.server.engine.signal_columns import SignalColumns, select_signal_columns
from peaksql.server.engine.store_rows import (
    Chromosomes,
    PartRow,
    Selected,
    chromosome_tables,
    part_rows,
    presence,
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
        if self.spec.missing == "zero":  # as they are: no per-batch gather of what is known
            return labels
        known = self.column_presence[self.region_part[regions]]
        return mark_missing(self.spec.missing, labels, known)


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

    ``where`` is the spec's constraint already parsed (under the server's limits, with the
    catalog's metadata keys); without it the constraint is parsed here with the default
    limits. ``intervals`` is the store of parts (default: the one beside ``store``'s
    genomes). Every condition name the spec gives must exist (NotFound, with a
    did-you-mean); a spec that selects no window raises InvalidArgument saying why.
    """
    began = time.perf_counter()
    if intervals is None:
        intervals = IntervalStore(store.data_dir)
    if where is None:
        with engine.connect() as connection:
            where = parse_where(spec.where, metadata_keys=metadata_keys(connection))
    for attempt in range(_ATTEMPTS):
        try:
            with engine.connect() as connection:
                read = _read_catalog(connection, spec, where, intervals, store)
            selected = select_intervals(intervals, read.rows, read.tables, where)
            excluded = None
            if read.excluded:
                excluded = select_intervals(intervals, read.excluded, read.tables, None)
            break
        except FileNotFoundError:
            # a removal committed between reading the rows and opening a part: its folder is
            # gone, and the rows read again no longer name it
            if attempt == _ATTEMPTS - 1:
                raise
    plan = _build(spec, where, store, read, selected, excluded)
    plan.compile_seconds = time.perf_counter() - began
    return plan


@dataclass(frozen=True)
class _Read:
    """What a plan reads from the small tables in one connection."""

    regions: list[sa.Row]
    wanted: list[int] | None  # spec.conditions' ids
    rows: list[PartRow]  # parts of the chosen conditions, excluded conditions left out
    excluded: list[PartRow]  # parts of the excluded conditions
    known: list[PartRow]  # parts of the label columns to be (presence per assembly)
    tables: dict[int, Chromosomes]
    signals: SignalColumns | None  # signal label columns (their intervals place windows)


def _read_catalog(
    connection: sa.Connection,
    spec: DatasetSpec,
    where: Where,
    intervals: IntervalStore,
    store: GenomeStore,
) -> _Read:
    """Regions, the signal columns of a signal plan, and the parts of the conditions the
    spec and the condition terms choose (``plan_conditions``: SQL on ``conditions`` and
    ``condition_metadata`` only)."""
    check_condition_names(connection, where.condition_names(), "the constraint")
    regions = _select_regions(connection, where)
    if not regions:
        raise NotFound(
            f"no chromosome matches the constraint {spec.where!r}"
            if spec.where.strip()
            else "the catalog holds no assembly: add one with 'peaksql add-assembly'"
        )
    signals = select_signal_columns(connection, store.data_dir, intervals, spec, regions, where)
    wanted = None
    if signals is None and spec.conditions:
        wanted = wanted_condition_ids(connection, spec.conditions)
    chosen = combine(wanted, selected_condition_ids(connection, where))
    excluded_ids = set(named_condition_ids(connection, spec.exclude, "exclude"))
    rows = part_rows(connection, chosen, where.metadata_columns)
    known = rows if wanted is None or chosen == wanted else part_rows(connection, wanted)
    excluded = part_rows(connection, sorted(excluded_ids)) if excluded_ids else []
    rows = [row for row in rows if row.condition_id not in excluded_ids]
    assembly_ids = {row.assembly_id for row in (*rows, *excluded)}
    tables = chromosome_tables(connection, assembly_ids, [r.id for r in regions])
    return _Read(regions, wanted, rows, excluded, known, tables, signals)


def _build(
    spec: DatasetSpec,
    where: Where,
    store: GenomeStore,
    read: _Read,
    selected: Selected,
    excluded: Selected | None,
) -> Plan:
    """The plan of the intervals read: label columns, exclusion, windows, presence."""
    signals = read.signals
    if signals is not None:  # signal labels: intervals only place windows
        label_columns, column_ids = signals.names, []
    elif read.wanted is None:  # the conditions with a matching interval, by code point
        names = {r.condition_id: r.condition for r in read.rows}
        present = np.flatnonzero(np.bincount(selected.condition_id, minlength=1))
        column_ids = sorted((int(i) for i in present), key=lambda i: names[i])
        label_columns = [names[i] for i in column_ids]
    else:
        label_columns, column_ids = list(spec.conditions), read.wanted
    regions = read.regions
    bases = _region_bases(regions)
    exclusion = load_exclusion(excluded, bases, spec.seq_length, spec.exclude_fraction)
    plan = _assemble(spec, where, store, regions, label_columns, column_ids, selected, exclusion)
    assembly_ids = list(dict.fromkeys(r.assembly_id for r in regions))
    if signals is not None:
        plan.column_presence = signals.presence(len(assembly_ids))
        signals.bind(plan.region_bases, plan.region_store_offsets, plan.region_assembly)
        plan.coverage, plan.strand_partner = signals, signals.strand_partner
    else:
        plan.column_presence = presence(read.known, column_ids, assembly_ids)
        plan.strand_partner = np.arange(len(label_columns), dtype=np.int64)
    plan.region_part = np.array([assembly_ids.index(r.assembly_id) for r in regions], np.int64)
    check_windows(plan, int(selected.region.size))
    return plan


def _region_bases(regions: list[sa.Row]) -> np.ndarray:
    """Each region's start in plan coordinates (regions laid end to end)."""
    lengths = np.array([r.length for r in regions], dtype=np.int64)
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


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


def _assemble(
    spec: DatasetSpec,
    where: Where,
    store: GenomeStore,
    regions: list[sa.Row],
    label_columns: list[str],
    column_ids: list[int],
    selected: Selected,
    exclusion: Exclusion | None = None,
) -> Plan:
    lengths = np.array([r.length for r in regions], dtype=np.int64)
    bases = _region_bases(regions)
    region, starts, ends, centres = (
        selected.region, selected.start, selected.end, selected.centre
    )  # fmt: skip
    column = _lookup(np.array(column_ids, dtype=np.int64), selected.condition_id)
    points = centres if get_label_mode(spec.label).points else None
    coverage = _coverage(len(label_columns), column, bases[region], starts, ends, points)
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


def _coverage(
    num_columns: int,
    column: np.ndarray,
    base: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    centres: np.ndarray | None,
) -> Coverage:
    """The overlap index of the labelled intervals, in plan coordinates, with their
    ``centres`` as points when the label mode counts them (None: no point index, 0.6 s and
    160 MB saved for 10M intervals). Parts come by condition and assembly, each sorted by
    start, so the merge usually needs no sort."""
    labelled = np.flatnonzero(column >= 0)
    if labelled.size < column.size:
        column, base = column[labelled], base[labelled]
        starts, ends = starts[labelled], ends[labelled]
        centres = None if centres is None else centres[labelled]
    plan_starts = base + starts
    return Coverage.build(
        num_columns,
        column,
        plan_starts,
        base + ends,
        None if centres is None else base + centres,
        presorted=bool(index_kernels.is_key_sorted(column, plan_starts)),
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
    """Position of each value in ``keys`` (non-negative ids; -1 where absent), vectorised."""
    if keys.size == 0 or values.size == 0:
        return np.full(values.shape, -1, dtype=np.int64)
    table = np.full(int(max(keys.max(), values.max())) + 1, -1, dtype=np.int64)
    table[keys[::-1]] = np.arange(keys.size, dtype=np.int64)[::-1]  # first position wins
    return table[values]
