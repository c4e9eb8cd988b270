"""Coverage of the label columns: one overlap index over every column (see ARCHITECTURE.md).

A ``Coverage`` holds the union of each column's intervals (``_merge``), cut into pieces of
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

import numpy as np

from peaksql.core.label_modes import get_label_mode
from peaksql.core.spec import DatasetSpec
from peaksql.server.engine import overlap_kernels

# Plan coordinates stay below 2**44 (17 Tbp); columns are separated by this offset so
# one running maximum can merge every column at once.
_COLUMN_OFFSET = np.int64(1) << 44
#: Bounds of the piece length (a power of two, about the median merged length).
_MIN_PIECE, _MAX_PIECE = 64, 1 << 16


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
        if values.size == 0:
            return cls(values, columns.astype(np.int32), np.zeros(1, np.int64), 0)
        last = max(int(values[-1]), 1)
        shift = max(0, int(np.ceil(np.log2(last / values.size))))
        edges = np.arange((max(int(values[-1]), 0) >> shift) + 2, dtype=np.int64) << shift
        first = np.searchsorted(values, edges, side="left").astype(np.int64)
        return cls(values, columns.astype(np.int32), first, shift)


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
        nonempty = ends > starts
        merged = _merge(columns[nonempty], starts[nonempty], ends[nonempty], presorted)
        piece_columns, piece_starts, piece_ends, max_piece = _cut(*merged)
        order = np.argsort(piece_starts, kind="stable")
        if points is None:
            point_index = SortedIndex.build(np.zeros(0, np.int64), np.zeros(0, np.int32))
        else:
            points = np.asarray(points, dtype=np.int64)
            by_point = np.argsort(points, kind="stable")
            point_index = SortedIndex.build(points[by_point], columns[by_point])
        return cls(
            num_columns,
            SortedIndex.build(piece_starts[order], piece_columns[order]),
            piece_ends[order],
            max_piece,
            point_index,
        )

    def covered(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Covered bases of each ``[w, w + length)`` per column, (B, C) int64."""
        p = self.pieces
        return overlap_kernels.covered_bases(
            _starts(window_starts), length, self.num_columns, p.values, self.ends,
            p.columns, p.first, p.shift, self.max_piece,
        )  # fmt: skip

    def count_points(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Points (summits or midpoints) of each column inside ``[w, w + length)``, (B, C)."""
        p = self.points
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


def _starts(window_starts: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(window_starts, dtype=np.int64)


def labels_of(
    coverage: Coverage, spec: DatasetSpec, window_starts: np.ndarray, length: int
) -> np.ndarray:
    """Labels of windows ``[w, w + length)`` under the spec's label mode."""
    window_starts = np.ascontiguousarray(window_starts, dtype=np.int64)
    return get_label_mode(spec.label).labels(coverage, window_starts, length, spec)


def _cut(
    columns: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Cut merged intervals into pieces of at most ``max_piece`` bases (a power of two about
    the median length), so the overlap scan of a window is bounded."""
    lengths = ends - starts
    if lengths.size == 0:
        return columns, starts, ends, _MIN_PIECE
    median = max(float(np.median(lengths)), 1.0)
    max_piece = int(min(max(2 ** int(np.ceil(np.log2(median))), _MIN_PIECE), _MAX_PIECE))
    counts = (lengths + max_piece - 1) // max_piece
    if int(counts.max()) == 1:
        return columns, starts, ends, max_piece
    owner = np.repeat(np.arange(lengths.size), counts)
    first_piece = np.cumsum(counts) - counts
    rank = np.arange(owner.size) - first_piece[owner]
    piece_starts = starts[owner] + rank * max_piece
    piece_ends = np.minimum(piece_starts + max_piece, ends[owner])
    return columns[owner], piece_starts, piece_ends, max_piece


def _merge(
    columns: np.ndarray, starts: np.ndarray, ends: np.ndarray, presorted: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of overlapping or touching intervals within each column, sorted by (column, start)."""
    if starts.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    if not presorted:
        order = np.lexsort((starts, columns))
        columns, starts, ends = columns[order], starts[order], ends[order]
    shifted_starts = starts + columns * _COLUMN_OFFSET
    shifted_ends = ends + columns * _COLUMN_OFFSET
    reach = np.maximum.accumulate(shifted_ends)
    new_group = np.ones(starts.shape[0], dtype=bool)
    new_group[1:] = shifted_starts[1:] > reach[:-1]
    first = np.flatnonzero(new_group)
    merged_ends = np.maximum.reduceat(shifted_ends, first) - columns[first] * _COLUMN_OFFSET
    return columns[first], starts[first], merged_ends
