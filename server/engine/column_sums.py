"""Per-column prefix sums of the overlap index: labels of long windows over dense columns.

The overlap scan (``labels.Coverage``) costs a window the pieces near it, for every column at
once: what makes hundreds of columns affordable for short windows. A long window over
dense columns overlaps thousands of pieces (131 kbp over 8 narrowPeak columns of 1M
intervals: about 2,000), where two binary searches per column over that column's pieces,
with prefix sums of their lengths, answer the same question whatever the window's length.
``ColumnSums`` is that layout, built from the pieces on first use (a counting sort by
column: 24 bytes a piece and a point); ``prefer_sums`` is the cost model ``Coverage`` asks per call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peaksql.server.engine import index_kernels, overlap_kernels

#: Cost of one binary-search step (a likely cache miss) in pieces scanned (sequential
#: reads), measured by ``tests/benchmarks/bench_label_paths.py`` on the development machine.
SEARCH_STEP_COST = 5.0


def prefer_sums(num_items: int, span: int, num_columns: int, scanned_bases: int) -> bool:
    """Whether two searches per column cost less than scanning the items (pieces or points,
    ``num_items`` over ``span`` bases) that lie in ``scanned_bases`` around a window."""
    if num_items == 0 or num_columns == 0:
        return False
    scanned = num_items / max(span, 1) * scanned_bases
    steps = 2 * num_columns * (np.log2(num_items / num_columns + 1) + 1)
    return bool(steps * SEARCH_STEP_COST < scanned)


def _by_column(
    columns: np.ndarray, values: np.ndarray, num_columns: int
) -> tuple[np.ndarray, np.ndarray]:
    """(order, offsets): ``values[order]`` grouped by column, each column ascending (values
    come sorted, the counting sort keeps that), column ``c`` at ``[offsets[c], offsets[c+1])``."""
    order = index_kernels.column_order(columns, values, num_columns)
    offsets = np.zeros(num_columns + 1, np.int64)
    np.cumsum(np.bincount(columns, minlength=num_columns), out=offsets[1:])
    return order, offsets


@dataclass(frozen=True)
class ColumnSums:
    """Each column's pieces sorted by start with prefix sums of their lengths, and each
    column's points sorted; column ``c`` spans ``offsets[c]:offsets[c + 1]``."""

    offsets: np.ndarray  # int64 (C + 1,)
    starts: np.ndarray  # int64
    ends: np.ndarray  # int64
    sums: np.ndarray  # int64 (n + 1,): length of the pieces before each
    point_offsets: np.ndarray  # int64 (C + 1,)
    points: np.ndarray  # int64
    point_ends: np.ndarray  # int64, points + 1: a point is a 1-base piece
    point_counts: np.ndarray  # int64 (points + 1,): 0, 1, 2, … (its prefix sums)

    @classmethod
    def of_pieces(
        cls,
        num_columns: int,
        piece_columns: np.ndarray,
        piece_starts: np.ndarray,
        piece_ends: np.ndarray,
        point_columns: np.ndarray,
        points: np.ndarray,
    ) -> ColumnSums:
        """From the index's arrays, each sorted by start (pieces of a column are disjoint)."""
        order, offsets = _by_column(piece_columns, piece_starts, num_columns)
        starts, ends = piece_starts[order], piece_ends[order]
        sums = np.zeros(starts.size + 1, np.int64)
        np.cumsum(ends - starts, out=sums[1:])
        point_order, point_offsets = _by_column(point_columns, points, num_columns)
        sorted_points = points[point_order]
        counts = np.arange(sorted_points.size + 1, dtype=np.int64)
        return cls(
            offsets, starts, ends, sums, point_offsets, sorted_points, sorted_points + 1, counts
        )

    def covered(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Covered bases of each ``[w, w + length)`` per column, (B, C) int32."""
        return overlap_kernels.covered_by_sums(
            window_starts, length, self.offsets, self.starts, self.ends, self.sums
        )

    def count_points(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Points of each column inside ``[w, w + length)``, (B, C) int32: the bases that
        1-base pieces at the points cover (one kernel for both)."""
        return overlap_kernels.covered_by_sums(
            window_starts, length, self.point_offsets, self.points, self.point_ends,
            self.point_counts,
        )  # fmt: skip
