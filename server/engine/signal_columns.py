"""Signal label columns: the plan's view of signal tracks (``signal_store``) for label modes.

``SignalColumns`` answers ``SignalQueries.signal`` (mode ``signal``) and the coverage
queries (a base is covered where a track has data), so any, all, fraction and class work on
signal tracks too. Windows arrive in plan coordinates; each is mapped to its region's
assembly position (``region_store_offsets[region] + start``), the tracks' coordinate space.

``select_signal_columns`` is the plan's hook: a plan is a signal plan when its mode is
``signal`` or its ``conditions`` name a signal condition. Columns: a stranded condition
``x`` expands to ``x:+`` and ``x:-`` (``strand_partner`` maps each to the other, for
reverse-complement augmentation); an interval condition serves its ``value`` (bedGraph) or
``signal_value`` (narrowPeak/broadPeak) as signal, overlaps taking the largest value. The
constraint's condition terms choose the columns, its other interval terms filter an interval
condition's values and are refused for tracks (``signal_terms``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from peaksql.core.errors import InvalidArgument, NotFound
from peaksql.core.label_targets import AGGREGATES, SIGNAL_GAPS
from peaksql.server.catalog.interval_store import IntervalStore
from peaksql.server.catalog.schema import assemblies, chromosomes, conditions, signal_tracks
from peaksql.server.catalog.signal_store import open_track
from peaksql.server.engine import signal_kernels as sk
from peaksql.server.engine.constraints import Where
from peaksql.server.engine.signal_runs import NO_RUNS, Runs, kernel_tracks
from peaksql.server.engine.signal_terms import kept_intervals, refuse_label_terms, selected_tracks
from peaksql.server.engine.store_rows import chromosome_tables, part_rows

#: Name suffix of a stranded pair's columns.
STRAND_SUFFIX = {"+": ":+", "-": ":-"}


@dataclass
class SignalColumns:
    """Per column, per plan assembly index, its runs; plus the plan's region geometry."""

    names: list[str]
    tracks: list[dict[int, Runs]]
    strand_partner: np.ndarray
    stats: list[tuple[float, float, float] | None]
    region_bases: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    region_store_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    region_assembly: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    _kernel_tracks: tuple[Any, np.ndarray] | None = field(default=None, repr=False)

    @property
    def num_columns(self) -> int:
        return len(self.names)

    def _positions(self, window_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per window: its assembly position and its region."""
        region = np.searchsorted(self.region_bases, window_starts, side="right") - 1
        positions = self.region_store_offsets[region] + (window_starts - self.region_bases[region])
        return positions, region

    def signal(
        self, window_starts: np.ndarray, length: int, bin_size: int, aggregate: str, gaps: str
    ) -> np.ndarray:
        """(B, C, length // bin_size) float32: ``aggregate`` per bin under the gap rule."""
        window_starts = np.ascontiguousarray(window_starts, dtype=np.int64)
        positions, region = self._positions(window_starts)
        out = np.empty((window_starts.shape[0], self.num_columns, length // bin_size), np.float32)
        if self._kernel_tracks is None:  # once per plan (a race builds it twice, harmlessly)
            self._kernel_tracks = kernel_tracks(
                self.tracks, self._num_assemblies(), self.region_store_offsets,
                self.region_assembly,
            )  # fmt: skip
        tracks, present = self._kernel_tracks
        sk.aggregate_columns(
            tracks, present, positions, np.ascontiguousarray(region, dtype=np.int64),
            np.ascontiguousarray(self.region_assembly, dtype=np.int64), bin_size,
            AGGREGATES.index(aggregate), SIGNAL_GAPS.index(gaps), out,
        )  # fmt: skip
        return out

    def _num_assemblies(self) -> int:
        stored = [a for by_assembly in self.tracks for a in by_assembly]
        return max([int(self.region_assembly.max(initial=0)), *stored]) + 1

    def covered(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Bases with data per window and column, (B, C) int64."""
        return self.signal(window_starts, length, length, "coverage", "zero")[:, :, 0].astype(
            np.int64
        )

    def count_points(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Never reached: a summit plan over signal columns is refused when compiled."""
        raise InvalidArgument("summit labels need interval conditions, not signal tracks")

    def covered_mask(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Per-base data presence, (B, C, length) bool."""
        return self.signal(window_starts, length, 1, "coverage", "zero") > 0

    def presence(self, num_assemblies: int) -> np.ndarray:
        """(A, C) bool: whether column c has a track (or valued intervals) on assembly a."""
        present = np.zeros((num_assemblies, self.num_columns), dtype=bool)
        for c, by_assembly in enumerate(self.tracks):
            for a in by_assembly:
                if a < num_assemblies:
                    present[a, c] = True
        return present

    def bind(self, bases: np.ndarray, store_offsets: np.ndarray, assembly: np.ndarray) -> None:
        """Take the plan's region geometry (plan coordinates -> assembly positions)."""
        self.region_bases, self.region_store_offsets = bases, store_offsets
        self.region_assembly = assembly
        self._kernel_tracks = None


def _track_rows(connection: sa.Connection, names: list[str] | None) -> list[sa.Row]:
    query = sa.select(
        conditions.c.id.label("condition_id"),
        conditions.c.name.label("condition"),
        signal_tracks.c.strand,
        signal_tracks.c.path,
        assemblies.c.name.label("assembly"),
    ).select_from(
        signal_tracks.join(conditions).join(
            assemblies, signal_tracks.c.assembly_id == assemblies.c.id
        )
    )
    if names is not None:
        query = query.where(conditions.c.name.in_(names))
    return list(connection.execute(query))


def select_signal_columns(
    connection: sa.Connection,
    data_dir: Path,
    intervals: IntervalStore,
    spec: Any,
    regions: list[sa.Row],
    where: Where | None = None,
) -> SignalColumns | None:
    """The plan's signal columns, or None when the plan is not a signal plan: one whose mode
    is ``signal`` (without ``conditions``: every signal track), or whose ``conditions`` name
    a signal condition. A boolean mode without ``conditions`` labels interval conditions.
    ``where``'s interval terms choose and filter the columns as ``signal_terms`` says."""
    requested = [n.rsplit(":", 1)[0] if n[-2:] in (":+", ":-") else n for n in spec.conditions]
    if spec.label != "signal" and not requested:
        return None
    rows = _track_rows(connection, requested if spec.conditions else None)
    if spec.label != "signal" and not rows:
        return None
    if spec.label == "summit":
        raise InvalidArgument(
            "label='summit' needs interval conditions with summits; the dataset's label "
            "columns are signal tracks: use label='signal' (e.g. aggregate='max'), or name "
            "peak conditions in conditions="
        )
    where = Where() if where is None else where
    selected = selected_tracks(connection, where, bool(spec.conditions), rows)
    if not spec.conditions and selected is not None:
        rows = [row for row in rows if row.condition_id in selected]
    plan_assembly = {r.assembly: i for i, r in enumerate(_unique_stores(regions))}
    chrom_index = _chromosome_indices(connection, regions)
    tracks, stats = _open_tracks(data_dir, rows, plan_assembly, chrom_index, selected)
    names = _column_names(spec.conditions, sorted(tracks))
    refuse_label_terms(where, [name for name in names if name in tracks])
    for name in names:
        if name not in tracks:
            tracks[name] = _interval_signal(
                connection, intervals, name, regions, plan_assembly, where, selected
            )
            stats[name] = [_runs_summary(tracks[name])]
    partner = np.arange(len(names), dtype=np.int64)
    for i, name in enumerate(names):
        other = name[:-1] + ("-" if name.endswith(":+") else "+")
        if name[-2:] in (":+", ":-") and other in names:
            partner[i] = names.index(other)
    return SignalColumns(
        names, [tracks[n] for n in names], partner, [_merge(stats[n]) for n in names]
    )


def _open_tracks(
    data_dir: Path,
    rows: list[sa.Row],
    plan_assembly: dict[str, int],
    chrom_index: dict[str, list[int]],
    selected: set[int] | None,
) -> tuple[dict[str, dict[int, Runs]], dict[str, list]]:
    """Column name -> plan assembly -> runs of its track, and each track's summary; a track
    the condition terms leave out has no runs (its column stays, known, with no data)."""
    tracks: dict[str, dict[int, Runs]] = {}
    stats: dict[str, list] = {}
    for row in rows:
        if row.assembly not in plan_assembly:
            continue
        column = row.condition + STRAND_SUFFIX.get(row.strand, "")
        by_assembly = tracks.setdefault(column, {})
        if selected is not None and row.condition_id not in selected:
            by_assembly[plan_assembly[row.assembly]] = NO_RUNS
            stats.setdefault(column, [])
            continue
        track = open_track(data_dir, row.path)
        by_assembly[plan_assembly[row.assembly]] = Runs.of_track(track)
        stats.setdefault(column, []).append(track.summary(chrom_index.get(row.assembly, [])))
    return tracks, stats


#: The runs of a column the condition terms leave out: no data anywhere.


def _column_names(requested: tuple[str, ...], stored: list[str]) -> list[str]:
    """Requested names in order (a stranded condition's name expands to both strands)."""
    if not requested:
        return stored
    names: list[str] = []
    for name in requested:
        pair = [name + ":+", name + ":-"]
        names.extend(pair if pair[0] in stored or pair[1] in stored else [name])
    if len(set(names)) != len(names):
        raise InvalidArgument("conditions lists a signal column twice")
    return names


def _unique_stores(regions: list[sa.Row]) -> list[sa.Row]:
    seen: dict[str, sa.Row] = {}
    for r in regions:
        seen.setdefault(r.store_file, r)
    return list(seen.values())


def _chromosome_indices(connection: sa.Connection, regions: list[sa.Row]) -> dict[str, list[int]]:
    """Assembly name -> indices (in chromosome id order) of the plan's chromosomes."""
    wanted = {r.id for r in regions}
    rows = connection.execute(
        sa.select(assemblies.c.name, chromosomes.c.id)
        .select_from(chromosomes.join(assemblies))
        .order_by(assemblies.c.id, chromosomes.c.id)
    ).all()
    found: dict[str, list[int]] = {}
    counters: dict[str, int] = {}
    for assembly, chromosome_id in rows:
        index = counters.get(assembly, 0)
        counters[assembly] = index + 1
        if chromosome_id in wanted:
            found.setdefault(assembly, []).append(index)
    return found


def _interval_signal(
    connection: sa.Connection,
    intervals: IntervalStore,
    name: str,
    regions: list[sa.Row],
    plan_assembly: dict[str, int],
    where: Where,
    selected: set[int] | None,
) -> dict[int, Runs]:
    """A peak or bedGraph condition's intervals as runs (value, else signal_value), read
    from its parts in the interval store (positions there are assembly positions): those
    the label terms keep, none when the condition terms leave the condition out. An
    assembly where it has valued intervals has runs, perhaps none (known, no data)."""
    condition_id = connection.scalar(sa.select(conditions.c.id).where(conditions.c.name == name))
    if condition_id is None:
        raise NotFound(f"unknown condition(s): {name}")
    chosen = selected is None or int(condition_id) in selected
    found = part_rows(connection, [int(condition_id)], where.metadata_columns)
    rows = [r for r in found if r.assembly in plan_assembly]
    tables = chromosome_tables(connection, {r.assembly_id for r in rows}, [r.id for r in regions])
    pieces: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for row in rows:
        part, table = intervals.part(row.path), tables[row.assembly_id]
        values = _part_values(part.numeric("value"), part.numeric("signal_value"), part.start)
        valued = (table.region[part.chrom] >= 0) & ~np.isnan(values)
        if not valued.any():
            continue
        kept = kept_intervals(where, part, row, table) if chosen else False
        keep = np.flatnonzero(valued & kept)
        piece = (part.start[keep], part.end[keep], values[keep])
        pieces.setdefault(plan_assembly[row.assembly], []).append(piece)
    out: dict[int, Runs] = {}
    for a, found_pieces in pieces.items():
        starts, ends, values = (np.concatenate(c) for c in zip(*found_pieces, strict=True))
        if starts.size:
            order = np.lexsort((values, ends, starts))
            starts, ends, values = sk.paint_max(
                starts[order].astype(np.int64), ends[order].astype(np.int64), values[order]
            )
        out[a] = Runs.of(starts.astype(np.int64), ends.astype(np.int64), values)
    return out


def _part_values(
    value: np.ndarray | None, signal_value: np.ndarray | None, starts: np.ndarray
) -> np.ndarray:
    """Per interval ``value``, else ``signal_value`` (NaN where neither)."""
    values = np.full(starts.shape, np.nan) if value is None else value.astype(np.float64)
    if signal_value is not None:
        values = np.where(np.isnan(values), signal_value.astype(np.float64), values)
    return values


def _runs_summary(by_assembly: dict[int, Runs]) -> tuple[float, float, float] | None:
    values = [r for r in by_assembly.values() if r.values.size]
    covered = sum(int(r.cum_len[-1]) for r in values)
    if not covered:
        return None
    return (
        min(float(r.values.min()) for r in values),
        max(float(r.values.max()) for r in values),
        sum(float(r.cum_sum[-1]) for r in values) / covered,
    )


def _merge(parts: list[tuple[float, float, float] | None]) -> tuple[float, float, float] | None:
    """Range and mean over several assemblies' summaries (mean weighted equally: a plan
    rarely spans assemblies of one signal column)."""
    found = [p for p in parts if p is not None]
    if not found:
        return None
    return min(p[0] for p in found), max(p[1] for p in found), float(np.mean([p[2] for p in found]))


def label_column_messages(plan: Any, positives: np.ndarray) -> list[Any]:
    """Describe's ``LabelColumn`` messages: positives, assemblies, strand partner and, for signal
    columns, the stored value range and mean over the plan's chromosomes."""
    from peaksql.v1 import peaksql_pb2 as pb

    signals = plan.coverage if isinstance(plan.coverage, SignalColumns) else None
    partner = plan.strand_partner
    assemblies = plan.column_assemblies()
    messages = []
    for c, name in enumerate(plan.label_columns):
        message = pb.LabelColumn(
            name=name, num_positive=int(positives[c]), assemblies=assemblies[c]
        )
        message.strand_partner = int(partner[c]) if partner is not None else c
        stats = signals.stats[c] if signals is not None else None
        if stats is not None:
            message.signal_min, message.signal_max, message.signal_mean = stats
        messages.append(message)
    return messages
