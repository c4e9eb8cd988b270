"""numba kernels that build the overlap index (``labels.Coverage``) without global sorts.

A plan's labelled intervals arrive sorted by (column, start): each part is sorted by start
and parts come column by column. ``merge_sorted`` unions each column's overlapping or
touching intervals in one pass; ``cut_pieces`` cuts them into pieces of at most
``max_piece`` bases; ``bucket_order`` sorts pieces (or points) by start with a counting
sort over buckets of ``2**shift`` bases (about one value per bucket, so the scatter is
O(n)), then sorts inside each bucket (insertion sort for a few values, a stable merge sort
for a crowded bucket: peaks many conditions share). The bucket counts are the index's
``first`` array (``overlap_kernels``), so no search over the sorted values is needed either.
"""

from __future__ import annotations

import numpy as np

from peaksql.server.engine.jit import kernel

#: A bucket with more values than this is sorted with a merge sort, not an insertion sort.
_INSERTION_MAX = 32


@kernel
def merge_sorted(
    columns: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of overlapping or touching intervals per column; input sorted by (column,
    start), empty intervals (end <= start) dropped. Returns (columns, starts, ends)."""
    n = starts.shape[0]
    out_columns = np.empty(n, np.int64)
    out_starts = np.empty(n, np.int64)
    out_ends = np.empty(n, np.int64)
    k = -1
    for i in range(n):
        column, start, end = columns[i], starts[i], ends[i]
        if end <= start:
            continue
        if k >= 0 and out_columns[k] == column and start <= out_ends[k]:
            if end > out_ends[k]:
                out_ends[k] = end
        else:
            k += 1
            out_columns[k], out_starts[k], out_ends[k] = column, start, end
    return out_columns[: k + 1], out_starts[: k + 1], out_ends[: k + 1]


@kernel
def cut_pieces(
    columns: np.ndarray, starts: np.ndarray, ends: np.ndarray, max_piece: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each interval cut into consecutive pieces of at most ``max_piece`` bases."""
    total = 0
    for i in range(starts.shape[0]):
        total += (ends[i] - starts[i] + max_piece - 1) // max_piece
    out_columns = np.empty(total, np.int64)
    out_starts = np.empty(total, np.int64)
    out_ends = np.empty(total, np.int64)
    k = 0
    for i in range(starts.shape[0]):
        start = starts[i]
        while start < ends[i]:
            out_columns[k], out_starts[k] = columns[i], start
            start = min(start + max_piece, ends[i])
            out_ends[k] = start
            k += 1
    return out_columns, out_starts, out_ends


@kernel
def bucket_order(values: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, first): ``values[order]`` ascending (stable), and ``first[q]`` the number of
    values below ``q << shift`` for q in 0 .. (max >> shift) + 1. Values must be >= 0."""
    n = values.shape[0]
    num_buckets = (values.max() >> shift) + 1 if n else 1
    first = np.zeros(num_buckets + 1, np.int64)
    for i in range(n):
        first[(values[i] >> shift) + 1] += 1
    for q in range(num_buckets):
        first[q + 1] += first[q]
    fill = first[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        q = values[i] >> shift
        order[fill[q]] = i
        fill[q] += 1
    for q in range(num_buckets):
        low, high = first[q], first[q + 1]
        if high - low > _INSERTION_MAX:
            members = order[low:high].copy()
            order[low:high] = members[np.argsort(values[members], kind="mergesort")]
            continue
        for j in range(low + 1, high):
            item = order[j]
            value = values[item]
            m = j - 1
            while m >= low and values[order[m]] > value:
                order[m + 1] = order[m]
                m -= 1
            order[m + 1] = item
    return order, first


@kernel
def is_key_sorted(columns: np.ndarray, starts: np.ndarray) -> bool:
    """Whether rows are sorted by (column, start): one pass, no temporaries."""
    for i in range(1, starts.shape[0]):
        if columns[i] < columns[i - 1] or (
            columns[i] == columns[i - 1] and starts[i] < starts[i - 1]
        ):
            return False
    return True


@kernel
def column_order(columns: np.ndarray, starts: np.ndarray, num_columns: int) -> np.ndarray:
    """A stable order by (column, start) for columns in [0, num_columns): a counting sort by
    column keeps each column's rows in input order, and only a column whose starts are then
    out of order (two parts of it: ``--append``) is sorted, by a stable merge sort of its
    own rows (two sorted runs)."""
    n = starts.shape[0]
    first = np.zeros(num_columns + 1, np.int64)
    for i in range(n):
        first[columns[i] + 1] += 1
    for c in range(num_columns):
        first[c + 1] += first[c]
    fill = first[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        order[fill[columns[i]]] = i
        fill[columns[i]] += 1
    for c in range(num_columns):
        low, high = first[c], first[c + 1]
        for j in range(low + 1, high):
            if starts[order[j]] < starts[order[j - 1]]:
                members = order[low:high].copy()
                order[low:high] = members[np.argsort(starts[members], kind="mergesort")]
                break
    return order
