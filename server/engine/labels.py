"""Coverage of each label column: the queries label modes ask (see ARCHITECTURE.md).

A ``Coverage`` holds, per column, the union of its intervals as sorted disjoint
``[start, end)`` pairs in plan coordinates plus prefix sums of covered bases, so the
covered length of any window is two binary searches (``kernels.covered_bases``).
Summit labels use each interval's summit (narrowPeak) or midpoint as points. What a
window's label is, given these queries, is its label mode's (``peaksql.core.label_modes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from peaksql.core.label_modes import evaluate_labels
from peaksql.core.spec import DatasetSpec
from peaksql.server.engine import kernels

# Plan coordinates stay below 2**44 (17 Tbp); columns are separated by this offset so
# one running maximum can merge every column at once.
_COLUMN_OFFSET = np.int64(1) << 44


@dataclass(frozen=True)
class Coverage:
    """Merged intervals of each column (CSR layout: column c owns ptr[c]:ptr[c+1])."""

    ptr: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    cumulative: np.ndarray  # prefix sums, one leading 0 per column
    points_ptr: np.ndarray
    points: np.ndarray  # sorted summits / midpoints
    bucket_ptr: np.ndarray  # column c's bucket index: bucket_ptr[c]:bucket_ptr[c+1]
    bucket_shift: np.ndarray  # bucket width 2**shift per column
    end_index: np.ndarray  # searchsorted(ends, q << shift, 'right') per bucket q
    start_index: np.ndarray  # searchsorted(starts, q << shift, 'left') per bucket q

    @property
    def num_columns(self) -> int:
        return int(self.ptr.shape[0] - 1)

    @classmethod
    def build(
        cls,
        num_columns: int,
        columns: np.ndarray,
        starts: np.ndarray,
        ends: np.ndarray,
        points: np.ndarray | None = None,
    ) -> Coverage:
        """Merge intervals (column index, start, end) and sort points per column.

        ``points`` holds one summit or midpoint per interval; ``None`` when only coverage is
        needed (e.g. runs of N), which leaves every column without points.
        """
        columns = np.asarray(columns, dtype=np.int64)
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        nonempty = ends > starts
        m_cols, m_starts, m_ends = _merge(columns[nonempty], starts[nonempty], ends[nonempty])
        ptr = np.searchsorted(m_cols, np.arange(num_columns + 1), side="left").astype(np.int64)
        cumulative = np.zeros(m_starts.shape[0] + num_columns, dtype=np.int64)
        for c in range(num_columns):
            lengths = m_ends[ptr[c] : ptr[c + 1]] - m_starts[ptr[c] : ptr[c + 1]]
            cumulative[ptr[c] + c + 1 : ptr[c + 1] + c + 1] = np.cumsum(lengths)
        if points is None:
            point_columns = points = np.zeros(0, dtype=np.int64)
        else:
            point_columns, points = columns, np.asarray(points, dtype=np.int64)
        order = np.lexsort((points, point_columns))
        points_ptr = np.searchsorted(point_columns[order], np.arange(num_columns + 1), "left")
        return cls(
            ptr,
            m_starts,
            m_ends,
            cumulative,
            points_ptr.astype(np.int64),
            points[order],
            *_bucket_index(ptr, m_starts, m_ends),
        )

    def covered(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Covered bases of each ``[w, w + length)`` per column, (B, C) int64."""
        return kernels.covered_bases(
            window_starts,
            length,
            self.ptr,
            self.starts,
            self.ends,
            self.cumulative,
            self.bucket_ptr,
            self.bucket_shift,
            self.end_index,
            self.start_index,
        )

    def count_points(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Points (summits or midpoints) of each column inside ``[w, w + length)``, (B, C)."""
        return kernels.count_points(window_starts, length, self.points_ptr, self.points)

    def covered_mask(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Per-base coverage of each column over ``[w, w + length)``, (B, C, length) bool."""
        return kernels.covered_mask(window_starts, length, self.ptr, self.starts, self.ends)

    def label(
        self, mode: str, window_starts: np.ndarray, length: int, fraction: float = 0.5
    ) -> np.ndarray:
        """Labels of windows ``[w, w + length)`` under label mode ``mode`` (a shorthand that
        builds a spec of that mode; the engine calls ``labels_of``)."""
        spec = DatasetSpec(seq_length=length, label=mode, fraction=fraction)
        return labels_of(self, spec, window_starts, length)


def labels_of(
    coverage: Any, spec: DatasetSpec, window_starts: np.ndarray, length: int
) -> np.ndarray:
    """Labels of windows ``[w, w + length)`` under the spec's label mode."""
    window_starts = np.ascontiguousarray(window_starts, dtype=np.int64)
    return evaluate_labels(coverage, window_starts, length, spec)


def _bucket_index(
    ptr: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per column, the search results at every multiple of a power-of-two bucket width.

    The width is chosen so a column has about one bucket per interval: a window's searches
    then bisect about one interval instead of all of them (memory: two int64 per interval).
    """
    shifts, end_parts, start_parts, sizes = [], [], [], [0]
    for c in range(ptr.shape[0] - 1):
        col_starts, col_ends = starts[ptr[c] : ptr[c + 1]], ends[ptr[c] : ptr[c + 1]]
        if col_ends.size == 0:
            shifts.append(0)
            end_parts.append(np.zeros(1, dtype=np.int64))
            start_parts.append(np.zeros(1, dtype=np.int64))
            sizes.append(1)
            continue
        last = int(col_ends[-1])
        shift = max(0, int(np.ceil(np.log2(max(last, 1) / col_ends.size))))
        edges = np.arange((last >> shift) + 2, dtype=np.int64) << shift
        shifts.append(shift)
        end_parts.append(np.searchsorted(col_ends, edges, side="right").astype(np.int64))
        start_parts.append(np.searchsorted(col_starts, edges, side="left").astype(np.int64))
        sizes.append(edges.size)
    empty = np.zeros(0, dtype=np.int64)
    return (
        np.cumsum(sizes).astype(np.int64),
        np.array(shifts, dtype=np.int64),
        np.concatenate(end_parts) if end_parts else empty,
        np.concatenate(start_parts) if start_parts else empty,
    )


def _merge(
    columns: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of overlapping or touching intervals within each column, sorted by (column, start)."""
    if starts.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
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
