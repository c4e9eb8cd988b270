"""GC fractions of windows, from the genome store in numba (for ``gc_matched`` negatives).

A base counts as G/C when its 4-bit mask is C, G or S (G or C): ``(m & 0b1001) == 0`` and
``m != 0``; every other letter (A, T, N, other ambiguity codes, gaps) counts as not G/C, and
a window's GC fraction is its G/C count over ``seq_length``. Histograms use
``training.GC_BINS`` bins of width 1/GC_BINS: bin ``min(count * GC_BINS // L, GC_BINS - 1)``.

Per chromosome the store is read once into cumulative G/C counts every ``BLOCK`` bases
(uint32, 1/32 of a byte per base: 100 MB for a 3.1 Gbp genome), cached while the genome
array lives (like ``n_filter``'s runs of N); a window's count is then two lookups plus at
most ``2 * BLOCK`` bases scanned at its ends, whatever its length.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from peaksql.core.training import GC_BINS
from peaksql.server.engine.jit import kernel

#: Bases per block of the cumulative counts.
BLOCK = 128

_cache: dict[tuple[int, int, int], tuple[weakref.ref, np.ndarray]] = {}
_lock = threading.Lock()


@kernel
def _is_gc(code: np.uint8) -> int:
    m = code & 0x0F
    return 1 if (m & 0x09) == 0 and m != 0 else 0


@kernel
def block_counts(genome: np.ndarray, begin: int, end: int, block: int) -> np.ndarray:
    """Cumulative G/C count of ``genome[begin:end]`` at every multiple of ``block``, uint32."""
    num_blocks = (end - begin) // block
    out = np.zeros(num_blocks + 1, dtype=np.uint32)
    total = np.uint32(0)
    for k in range(num_blocks):
        part = genome[begin + k * block : begin + (k + 1) * block]
        count = np.uint32(0)
        for j in range(block):  # branch-free so LLVM vectorises it
            m = part[j] & np.uint8(0x0F)
            count += np.uint32(((m & np.uint8(0x09)) == 0) & (m != 0))
        total += count
        out[k + 1] = total
    return out


@kernel
def window_gc_counts(
    genome: np.ndarray,
    store_offsets: np.ndarray,
    block_ptr: np.ndarray,
    cumulative: np.ndarray,
    regions: np.ndarray,
    starts: np.ndarray,
    seq_length: int,
    block: int,
) -> np.ndarray:
    """G/C count of each window ``(region, start)``, int32 (B,).

    Region r's cumulative counts are ``cumulative[block_ptr[r]:block_ptr[r + 1]]``.
    """
    out = np.empty(starts.shape[0], dtype=np.int32)
    for i in range(starts.shape[0]):
        r = regions[i]
        base = store_offsets[r]
        cum = cumulative[block_ptr[r] : block_ptr[r + 1]]
        s = starts[i]
        e = s + seq_length
        sb = s // block
        eb = e // block
        count = np.int64(cum[eb]) - np.int64(cum[sb])
        for p in range(sb * block, s):
            count -= _is_gc(genome[base + p])
        for p in range(eb * block, e):
            count += _is_gc(genome[base + p])
        out[i] = count
    return out


def _cumulative(genome: np.ndarray, offset: int, length: int) -> np.ndarray:
    """Block counts of one chromosome, cached while its genome array lives (see n_filter)."""
    key = (id(genome), offset, length)
    with _lock:
        cached = _cache.get(key)
    if cached is not None and cached[0]() is genome:
        return cached[1]
    counts = block_counts(genome, offset, offset + length, BLOCK)
    with _lock:
        for dead in [k for k, (ref, _) in _cache.items() if ref() is None]:
            del _cache[dead]
        _cache[key] = (weakref.ref(genome), counts)
    return counts


def window_gc(
    genomes: list[np.ndarray],
    region_assembly: np.ndarray,
    store_offsets: np.ndarray,
    lengths: np.ndarray,
    regions: np.ndarray,
    starts: np.ndarray,
    seq_length: int,
) -> np.ndarray:
    """G/C counts of windows ``(region, start)`` of a plan, int32 (B,), one kernel call per
    assembly."""
    regions = np.ascontiguousarray(regions, dtype=np.int64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    out = np.zeros(regions.shape[0], dtype=np.int32)
    for a, genome in enumerate(genomes):
        mine = np.flatnonzero(region_assembly == a)
        parts = [
            _cumulative(genome, int(store_offsets[r]), int(lengths[r])) if r in mine else None
            for r in range(len(lengths))
        ]
        sizes = [0 if p is None else p.shape[0] for p in parts]
        block_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        cumulative = np.concatenate([np.zeros(0, np.uint32)] + [p for p in parts if p is not None])
        rows = np.flatnonzero(region_assembly[regions] == a)
        out[rows] = window_gc_counts(
            genome,
            store_offsets,
            block_ptr,
            cumulative,
            regions[rows],
            starts[rows],
            seq_length,
            BLOCK,
        )
    return out


def gc_bins(counts: np.ndarray, seq_length: int) -> np.ndarray:
    """Histogram bin of each window's G/C count, int64 (documented in the module)."""
    return np.minimum(np.asarray(counts, np.int64) * GC_BINS // seq_length, GC_BINS - 1)


def max_difference(positive_bins: np.ndarray, negative_bins: np.ndarray) -> float:
    """Largest absolute difference between the two normalised histograms (0 if one is empty)."""
    pos = np.bincount(positive_bins, minlength=GC_BINS).astype(np.float64)
    neg = np.bincount(negative_bins, minlength=GC_BINS).astype(np.float64)
    if pos.sum() == 0 or neg.sum() == 0:
        return 0.0
    return float(np.abs(pos / pos.sum() - neg / neg.sum()).max())
