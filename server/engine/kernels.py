"""numba kernels of the hot path: gather + pack sequences, N runs, the epoch order (the
overlap index of labels has its own module, ``overlap_kernels``).

Pure functions over arrays; every one releases the GIL (``nogil``) so that a thread pool
builds batches on every core, and is cached on disk so a new server process starts warm.
Coordinates are int64; a window is ``[start, start + length)`` in the plan's coordinate
space (see ``peaksql.server.engine.plan``).
"""

from __future__ import annotations

import numba
import numpy as np

from peaksql.server.engine.jit import kernel


@kernel
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


@kernel
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


@numba.njit(inline="always")
def mix64(z: np.uint64) -> np.uint64:
    """The splitmix64 finaliser: the one scrambler of every seeded draw in numba (the epoch
    order's rounds, shifts and strands, random windows)."""
    z = (z ^ (z >> np.uint64(30))) * _C1
    z = (z ^ (z >> np.uint64(27))) * _C2
    return z ^ (z >> np.uint64(31))


@kernel
def mix_keyed(indices: np.ndarray, key: np.uint64) -> np.ndarray:
    """``mix64(index + key)`` per index, uint64 (``order._mix_array`` is its numpy twin)."""
    out = np.empty(indices.shape[0], dtype=np.uint64)
    for i in range(indices.shape[0]):
        out[i] = mix64(np.uint64(indices[i]) + key)
    return out


@numba.njit(inline="always")
def first_greater(values: np.ndarray, lo: int, hi: int, x: int | np.int64) -> int:
    """First i in [lo, hi) with values[i] > x (hi if none): searchsorted 'right'."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@kernel
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
                z = mix64(right + key)
                x = (right << left_bits) | (left ^ (z & ((one << left_bits) - one)))
                left_bits, right_bits = right_bits, left_bits
            if x < bound:
                break
        out[i] = np.int64(x)
    return out
