"""numba kernels of the overlap index (``labels.Coverage``): one search per window, then a
short scan over the pieces and points near it, for every label column at once.

Pieces are the per-column union of a plan's intervals cut to at most ``max_piece`` bases,
sorted by start (``starts``, ``ends``, ``columns``). A piece overlapping ``[w, w + L)`` has
``start > w - max_piece`` (its end is at most ``start + max_piece``) and ``start < w + L``,
so a window scans the pieces whose start lies in ``(w - max_piece, w + L)``: found with
one bucket lookup and a bisection inside one bucket (``bucket_first[q]`` is the first piece
with ``start >= q << shift``). Cost per window: O(log(bucket) + pieces near it).
"""

from __future__ import annotations

import numba
import numpy as np

from peaksql.server.engine.jit import kernel


@numba.njit(inline="always")
def _lower_bound(values: np.ndarray, lo: int, hi: int, x: int) -> int:
    """First i in ``[lo, hi)`` with values[i] >= x (``hi`` if none); values ascending."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(inline="always")
def _first_at_least(values: np.ndarray, bucket_first: np.ndarray, shift: int, x: int) -> int:
    """First i with values[i] >= x (len if none), starting from x's bucket."""
    if x <= 0:
        return 0
    q = x >> shift
    if q + 1 >= bucket_first.shape[0]:
        return values.shape[0]
    return _lower_bound(values, bucket_first[q], bucket_first[q + 1], x)


@kernel
def covered_bases(
    window_starts: np.ndarray,
    length: int,
    num_columns: int,
    starts: np.ndarray,
    ends: np.ndarray,
    columns: np.ndarray,
    bucket_first: np.ndarray,
    shift: int,
    max_piece: int,
) -> np.ndarray:
    """Covered bases of ``[w, w + length)`` per column, (B, C) int32 (at most ``length``)."""
    out = np.zeros((window_starts.shape[0], num_columns), dtype=np.int32)
    n = starts.shape[0]
    for i in range(window_starts.shape[0]):
        s = window_starts[i]
        e = s + length
        k = _first_at_least(starts, bucket_first, shift, s - max_piece + 1)
        while k < n and starts[k] < e:
            if ends[k] > s:
                out[i, columns[k]] += min(ends[k], e) - max(starts[k], s)
            k += 1
    return out


@kernel
def covered_mask(
    window_starts: np.ndarray,
    length: int,
    num_columns: int,
    starts: np.ndarray,
    ends: np.ndarray,
    columns: np.ndarray,
    bucket_first: np.ndarray,
    shift: int,
    max_piece: int,
) -> np.ndarray:
    """Per-base coverage of ``[w, w + length)`` per column, (B, C, length) bool."""
    out = np.zeros((window_starts.shape[0], num_columns, length), dtype=np.bool_)
    n = starts.shape[0]
    for i in range(window_starts.shape[0]):
        s = window_starts[i]
        e = s + length
        k = _first_at_least(starts, bucket_first, shift, s - max_piece + 1)
        while k < n and starts[k] < e:
            if ends[k] > s:
                out[i, columns[k], max(starts[k], s) - s : min(ends[k], e) - s] = True
            k += 1
    return out


@kernel
def count_points(
    window_starts: np.ndarray,
    length: int,
    num_columns: int,
    points: np.ndarray,
    columns: np.ndarray,
    bucket_first: np.ndarray,
    shift: int,
) -> np.ndarray:
    """Points (sorted, with their column) inside ``[w, w + length)`` per column, (B, C) int32."""
    out = np.zeros((window_starts.shape[0], num_columns), dtype=np.int32)
    n = points.shape[0]
    for i in range(window_starts.shape[0]):
        s = window_starts[i]
        e = s + length
        k = _first_at_least(points, bucket_first, shift, s)
        while k < n and points[k] < e:
            out[i, columns[k]] += 1
            k += 1
    return out


@numba.njit(inline="always")
def _below(starts: np.ndarray, ends: np.ndarray, sums: np.ndarray, lo: int, hi: int, x: int) -> int:
    """Covered bases below ``x`` of one column's disjoint pieces ``[lo, hi)``, sorted by
    start, where ``sums[k]`` is the length of the pieces before ``k``."""
    a = _lower_bound(starts, lo, hi, x)  # first piece starting at or after x
    if a == lo:
        return 0
    return sums[a] - sums[lo] - max(ends[a - 1] - x, 0)


@kernel
def covered_by_sums(
    window_starts: np.ndarray,
    length: int,
    offsets: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    sums: np.ndarray,
) -> np.ndarray:
    """Covered bases of ``[w, w + length)`` per column, (B, C) int32, from two searches per
    column over its pieces (column ``c`` holds ``[offsets[c], offsets[c + 1])``): the cost
    of a long window does not grow with the intervals it overlaps."""
    num_columns = offsets.shape[0] - 1
    out = np.empty((window_starts.shape[0], num_columns), dtype=np.int32)
    for i in range(window_starts.shape[0]):
        s = window_starts[i]
        for c in range(num_columns):
            lo, hi = offsets[c], offsets[c + 1]
            out[i, c] = _below(starts, ends, sums, lo, hi, s + length) - _below(
                starts, ends, sums, lo, hi, s
            )
    return out
