"""Coverage of the label columns: one overlap index over every column (see ARCHITECTURE.md).

A ``Coverage`` holds the union of each column's intervals (``index_kernels``), cut into pieces of
at most ``max_piece`` bases, in ONE array sorted by start with each piece's column, plus a
bucket index over the starts; summits (narrowPeak) or midpoints likewise as one sorted array
of points with their columns. A window's queries are one search and a scan of the pieces
near it (``overlap_kernels``), for every column at once: the cost per window follows the
intervals near it, not the number of columns.

Why pieces and not an interval tree: pieces bound every interval's length, so the pieces
that can overlap ``[w, w + L)`` are exactly those starting in ``(w - max_piece, w + L)``, a
contiguous range of one sorted array found with one search (cgranges' implicit augmented
tree answers the same with a walk down the tree, more branches per query). Long intervals
cost extra pieces (their length over ``max_piece``), never a longer scan. What a window's
label is, given these queries, is its label mode's (``peaksql.core.label_modes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from peaksql.core.label_modes import evaluate_labels
from peaksql.core.spec import DatasetSpec
from peaksql.server.engine import index_kernels, overlap_kernels
from peaksql.server.engine.column_sums import ColumnSums, prefer_sums

#: Bounds of the piece length (a power of two, about the median merged length).
_MIN_PIECE, _MAX_PIECE = 64, 1 << 16
#: Lengths whose median sets the piece length.
_MEDIAN_SAMPLE = 65_536


@dataclass(frozen=True)
class SortedIndex:
    """Values sorted ascending with a column each, and ``first[q]``: the first value at
    least ``q << shift`` (about one value per bucket)."""

    values: np.ndarray  # int64
    columns: np.ndarray  # int32
    first: np.ndarray  # int64 (num_buckets + 1,)
    shift: int

    @classmethod
    def build(cls, values: np.ndarray, columns: np.ndarray) -> SortedIndex:
        """Index ``values`` already sorted ascending."""
        if values.size == 0:
            return cls(values, columns.astype(np.int32), np.zeros(1, np.int64), 0)
        shift = _shift(int(values[-1]), values.size)
        edges = np.arange((max(int(values[-1]), 0) >> shift) + 2, dtype=np.int64) << shift
        first = np.searchsorted(values, edges, side="left").astype(np.int64)
        return cls(values, columns.astype(np.int32), first, shift)

    @classmethod
    def sort(cls, values: np.ndarray, columns: np.ndarray) -> tuple[SortedIndex, np.ndarray]:
        """Sort ``values`` (stable) with their columns and index them; also the order.

        Non-negative values (plan coordinates) go through ``index_kernels.bucket_order``: a
        counting sort whose bucket counts are the index, no global sort and no search."""
        if values.size == 0 or int(values.min()) < 0:
            order = np.argsort(values, kind="stable")
            return cls.build(values[order], columns[order]), order
        # about 4 values a bucket: a smaller count array scatters faster (0.30 s instead of
        # 0.41 s for 10M starts), and a query bisects 2 more steps inside its bucket
        shift = _shift(int(values.max()), values.size) + 2
        order, first = index_kernels.bucket_order(values, shift)
        return cls(values[order], columns[order].astype(np.int32), first, shift), order


def _column_order(columns: np.ndarray, starts: np.ndarray, num_columns: int) -> np.ndarray:
    """Stable order by (column, start): a counting sort by column (``index_kernels``) when
    every column is in range, else a lexsort."""
    if columns.size and int(columns.min()) >= 0 and int(columns.max()) < num_columns:
        return index_kernels.column_order(columns, starts, num_columns)
    return np.lexsort((starts, columns))


def _shift(last: int, size: int) -> int:
    """Bucket width ``2**shift``: about one value per bucket."""
    return max(0, int(np.ceil(np.log2(max(last, 1) / size))))


@dataclass(frozen=True)
class Coverage:
    """Merged intervals of every column as one overlap index, and points likewise."""

    num_columns: int
    pieces: SortedIndex  # starts of the pieces
    ends: np.ndarray  # int64, end of each piece
    max_piece: int
    points: SortedIndex

    @property
    def num_pieces(self) -> int:
        return int(self.ends.shape[0])

    @classmethod
    def build(
        cls,
        num_columns: int,
        columns: np.ndarray,
        starts: np.ndarray,
        ends: np.ndarray,
        points: np.ndarray | None = None,
        *,
        presorted: bool = False,
    ) -> Coverage:
        """Merge intervals (column index, start, end) per column and index them.

        ``points`` holds one summit or midpoint per interval; ``None`` when only coverage is
        needed (e.g. runs of N), which leaves every column without points. ``presorted``:
        the intervals are already sorted by (column, start), so merging needs no sort.
        """
        columns = np.asarray(columns, dtype=np.int64)
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        if presorted:
            key = (columns, starts, ends)
        else:
            order = _column_order(columns, starts, num_columns)
            key = (columns[order], starts[order], ends[order])
        merged = index_kernels.merge_sorted(*key)
        piece_columns, piece_starts, piece_ends, max_piece = _cut(*merged)
        pieces, order = SortedIndex.sort(piece_starts, piece_columns)
        if points is None:
            point_index = SortedIndex.build(np.zeros(0, np.int64), np.zeros(0, np.int32))
        else:
            point_index, _ = SortedIndex.sort(np.asarray(points, dtype=np.int64), columns)
        return cls(num_columns, pieces, piece_ends[order], max_piece, point_index)

    @cached_property
    def column_sums(self) -> ColumnSums:
        """The same pieces and points by column with prefix sums (built on first use)."""
        p, q = self.pieces, self.points
        return ColumnSums.of_pieces(
            self.num_columns, p.columns, p.values, self.ends, q.columns, q.values
        )

    def covered(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Covered bases of each ``[w, w + length)`` per column, (B, C) int32: a scan of the
        pieces near each window, or two searches per column where that costs less."""
        p = self.pieces
        if prefer_sums(self.num_pieces, _span(p), self.num_columns, length + self.max_piece):
            return self.column_sums.covered(_starts(window_starts), length)
        return overlap_kernels.covered_bases(
            _starts(window_starts), length, self.num_columns, p.values, self.ends,
            p.columns, p.first, p.shift, self.max_piece,
        )  # fmt: skip

    def count_points(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Points (summits or midpoints) of each column inside ``[w, w + length)``, (B, C)."""
        p = self.points
        if prefer_sums(p.values.size, _span(p), self.num_columns, length):
            return self.column_sums.count_points(_starts(window_starts), length)
        return overlap_kernels.count_points(
            _starts(window_starts), length, self.num_columns, p.values, p.columns, p.first,
            p.shift,
        )  # fmt: skip

    def covered_mask(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Per-base coverage of each column over ``[w, w + length)``, (B, C, length) bool."""
        p = self.pieces
        return overlap_kernels.covered_mask(
            _starts(window_starts), length, self.num_columns, p.values, self.ends,
            p.columns, p.first, p.shift, self.max_piece,
        )  # fmt: skip

    def label(
        self, mode: str, window_starts: np.ndarray, length: int, fraction: float = 0.5
    ) -> np.ndarray:
        """Labels of windows ``[w, w + length)`` under label mode ``mode`` (a shorthand that
        builds a spec of that mode; the engine calls ``labels_of``)."""
        spec = DatasetSpec(seq_length=length, label=mode, fraction=fraction)
        return labels_of(self, spec, window_starts, length)


def _span(index: SortedIndex) -> int:
    """Bases from the first value of ``index`` to its last."""
    return int(index.values[-1] - index.values[0]) + 1 if index.values.size else 0


def _starts(window_starts: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(window_starts, dtype=np.int64)


def labels_of(
    coverage: Any, spec: DatasetSpec, window_starts: np.ndarray, length: int
) -> np.ndarray:
    """Labels of windows ``[w, w + length)`` under the spec's label mode."""
    window_starts = np.ascontiguousarray(window_starts, dtype=np.int64)
    return evaluate_labels(coverage, window_starts, length, spec)


def _cut(
    columns: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Cut merged intervals into pieces of at most ``max_piece`` bases (a power of two about
    the median length), so the overlap scan of a window is bounded."""
    lengths = ends - starts
    if lengths.size == 0:
        return columns, starts, ends, _MIN_PIECE
    # the median of an even sample: a power of two near it is all that is needed, and a
    # full median of 10M lengths costs 0.27 s of a plan
    median = max(float(np.median(lengths[:: max(1, lengths.size // _MEDIAN_SAMPLE)])), 1.0)
    max_piece = int(min(max(2 ** int(np.ceil(np.log2(median))), _MIN_PIECE), _MAX_PIECE))
    if int(lengths.max()) <= max_piece:
        return columns, starts, ends, max_piece
    return (*index_kernels.cut_pieces(columns, starts, ends, max_piece), max_piece)
