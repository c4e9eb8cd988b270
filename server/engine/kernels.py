"""numba kernels of the hot path: gather + pack sequences, coverage, summits, N counts.

Pure functions over arrays; every one releases the GIL (``nogil``) so that a thread pool
builds batches on every core, and is cached on disk so a new server process starts warm.
Coordinates are int64; a window is ``[start, start + length)`` in the plan's coordinate
space (see ``peaksql.server.engine.plan``).
"""

from __future__ import annotations

import numba
import numpy as np

JIT = {"nogil": True, "cache": True, "boundscheck": False}


@numba.njit(**JIT)
def gather_pack(genome: np.ndarray, starts: np.ndarray, seq_length: int, out: np.ndarray) -> None:
    """Pack ``genome[s:s + seq_length]`` for each s into rows of ``out`` (4 bits a base).

    Byte j of a row holds base 2j in the high nibble and base 2j + 1 in the low nibble
    (0 past the end); the soft-mask bit of the store codes is dropped.
    """
    half = seq_length // 2
    low = np.uint8(0x0F)
    shift = np.uint8(4)
    for i in range(starts.shape[0]):
        # a contiguous slice and uint8-only arithmetic let LLVM vectorise the loop
        source = genome[starts[i] : starts[i] + seq_length]
        row = out[i]
        for j in range(half):
            row[j] = ((source[2 * j] & low) << shift) | (source[2 * j + 1] & low)
        if seq_length % 2:
            row[half] = (source[seq_length - 1] & low) << shift


@numba.njit(inline="always")
def _first_greater(values: np.ndarray, lo: int, hi: int, x: int) -> int:
    """First i in [lo, hi) with values[i] > x (hi if none): searchsorted 'right'."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(inline="always")
def _first_not_less(values: np.ndarray, lo: int, hi: int, x: int) -> int:
    """First i in [lo, hi) with values[i] >= x (hi if none): searchsorted 'left'."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(**JIT)
def covered_bases(
    window_starts: np.ndarray,
    length: int,
    ptr: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    cumulative: np.ndarray,
    bucket_ptr: np.ndarray,
    bucket_shift: np.ndarray,
    end_index: np.ndarray,
    start_index: np.ndarray,
) -> np.ndarray:
    """Bases of ``[w, w + length)`` covered by each column's merged intervals, (B, C) int64.

    Column c owns ``starts/ends[ptr[c]:ptr[c+1]]`` (sorted, disjoint) and
    ``cumulative[ptr[c] + c : ptr[c+1] + c + 1]``, the prefix sums of their lengths
    (one extra leading zero per column). The two searches per window and column start from
    a bucket index (``labels.Coverage``): for ``q = x >> bucket_shift[c]``,
    ``end_index[bucket_ptr[c] + q]`` is the search result at ``q << shift``, so each search
    only bisects the few intervals of one bucket.
    """
    num_windows = window_starts.shape[0]
    num_columns = ptr.shape[0] - 1
    out = np.zeros((num_windows, num_columns), dtype=np.int64)
    for c in range(num_columns):
        lo, hi = ptr[c], ptr[c + 1]
        if lo == hi:
            continue
        col_starts = starts[lo:hi]
        col_ends = ends[lo:hi]
        col_cum = cumulative[lo + c : hi + c + 1]
        col_end_index = end_index[bucket_ptr[c] : bucket_ptr[c + 1]]
        col_start_index = start_index[bucket_ptr[c] : bucket_ptr[c + 1]]
        num_buckets = col_end_index.shape[0] - 1
        shift = bucket_shift[c]
        count = hi - lo
        for i in range(num_windows):
            s = window_starts[i]
            e = s + length
            q = s >> shift
            if q >= num_buckets:
                continue  # past the column's last interval
            first = _first_greater(col_ends, col_end_index[q], col_end_index[q + 1], s)
            q = e >> shift
            if q >= num_buckets:
                last = count
            else:
                last = _first_not_less(col_starts, col_start_index[q], col_start_index[q + 1], e)
            if first >= last:
                continue
            total = col_cum[last] - col_cum[first]
            if col_starts[first] < s:
                total -= s - col_starts[first]
            if col_ends[last - 1] > e:
                total -= col_ends[last - 1] - e
            out[i, c] = total
    return out


@numba.njit(**JIT)
def count_points(
    window_starts: np.ndarray, length: int, ptr: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """Sorted points of each column inside ``[w, w + length)``, (B, C) int64."""
    num_windows = window_starts.shape[0]
    num_columns = ptr.shape[0] - 1
    out = np.zeros((num_windows, num_columns), dtype=np.int64)
    for c in range(num_columns):
        col = points[ptr[c] : ptr[c + 1]]
        if col.shape[0] == 0:
            continue
        for i in range(num_windows):
            s = window_starts[i]
            out[i, c] = np.searchsorted(col, s + length, side="left") - np.searchsorted(
                col, s, side="left"
            )
    return out


@numba.njit(**JIT)
def covered_mask(
    window_starts: np.ndarray,
    length: int,
    ptr: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
) -> np.ndarray:
    """Per-base coverage of each column over ``[w, w + length)``, (B, C, length) bool."""
    num_windows = window_starts.shape[0]
    num_columns = ptr.shape[0] - 1
    out = np.zeros((num_windows, num_columns, length), dtype=np.bool_)
    for c in range(num_columns):
        col_starts = starts[ptr[c] : ptr[c + 1]]
        col_ends = ends[ptr[c] : ptr[c + 1]]
        for i in range(num_windows):
            s = window_starts[i]
            e = s + length
            k = np.searchsorted(col_ends, s, side="right")
            while k < col_starts.shape[0] and col_starts[k] < e:
                a = max(col_starts[k], s) - s
                b = min(col_ends[k], e) - s
                out[i, c, a:b] = True
                k += 1
    return out


@numba.njit(**JIT)
def code_runs(genome: np.ndarray, begin: int, end: int, mask: int) -> tuple:
    """Runs of bases whose 4-bit code equals ``mask`` in ``genome[begin:end]``: (starts, ends)."""
    run_starts = []
    run_ends = []
    inside = False
    for p in range(begin, end):
        hit = (genome[p] & 0x0F) == mask
        if hit and not inside:
            run_starts.append(p - begin)
            inside = True
        elif not hit and inside:
            run_ends.append(p - begin)
            inside = False
    if inside:
        run_ends.append(end - begin)
    return np.array(run_starts, dtype=np.int64), np.array(run_ends, dtype=np.int64)


_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)


@numba.njit(**JIT)
def feistel_walk(positions: np.ndarray, keys: np.ndarray, num_bits: int, limit: int) -> np.ndarray:
    """π of ``order.EpochOrder`` per element: Feistel rounds, cycle-walked into [0, limit).

    Bit-identical to the numpy network in ``order.py`` (the reference its tests compare
    against); every constant is uint64 so numba never promotes to float.
    """
    out = np.empty(positions.shape[0], dtype=np.int64)
    first_left = np.uint64(num_bits - num_bits // 2)
    first_right = np.uint64(num_bits // 2)
    one = np.uint64(1)
    bound = np.uint64(limit)
    for i in range(positions.shape[0]):
        x = np.uint64(positions[i])
        while True:
            left_bits = first_left
            right_bits = first_right
            for key in keys:
                left = x >> right_bits
                right = x & ((one << right_bits) - one)
                z = right + key
                z = (z ^ (z >> np.uint64(30))) * _C1
                z = (z ^ (z >> np.uint64(27))) * _C2
                z = z ^ (z >> np.uint64(31))
                x = (right << left_bits) | (left ^ (z & ((one << left_bits) - one)))
                left_bits, right_bits = right_bits, left_bits
            if x < bound:
                break
        out[i] = np.int64(x)
    return out
