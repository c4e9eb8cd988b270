"""numba kernels of signal labels: aggregate piecewise-constant runs per bin.

A track is sorted, disjoint runs ``[starts[k], ends[k])`` of value ``values[k]`` with prefix
sums ``cum_sum[k]`` (of value x length over runs before k) and ``cum_len[k]`` (of length),
one more entry than runs (``signal_store`` draws the files). For ``F(x)`` = the sum of values
over bases below ``x`` and ``k(x)`` = the first run ending after ``x``::

    F(x) = cum_sum[k(x)] + values[k(x)] * max(0, x - starts[k(x)])

so the sum (and, with ``cum_len``, the covered length) of any range is two searches. The bins
of a window are consecutive: one binary search finds the window's first run, each further
bin boundary is a galloping search forward from the last. max and min walk the runs of the
bin. Every kernel releases the GIL and is cached on disk (see ``jit``).
"""

from __future__ import annotations

import numba
import numpy as np

from peaksql.server.engine.jit import kernel
from peaksql.server.engine.kernels import first_greater

#: Aggregate codes (the order of ``label_targets.AGGREGATES``).
MEAN, SUM, MAX, MIN, COVERAGE = 0, 1, 2, 3, 4
#: Gap codes (the order of ``label_targets.SIGNAL_GAPS``).
ZERO, NAN, SKIP = 0, 1, 2


@numba.njit(inline="always")
def _advance(ends: np.ndarray, k: int, n: int, x: int) -> int:
    """First j >= k with ends[j] > x (n if none), galloping from k."""
    lo = k
    hi = k
    step = 1
    while hi < n and ends[hi] <= x:
        lo = hi + 1
        hi = min(lo + step, n)
        step *= 2
    return first_greater(ends, lo, min(hi, n), x)


@numba.njit(inline="always")
def _below(starts, values, cum_sum, cum_len, k: int, n: int, x: int) -> tuple:
    """(sum of values, covered bases) below x, given k = k(x)."""
    if k >= n or starts[k] >= x:
        return cum_sum[k], cum_len[k]
    return cum_sum[k] + values[k] * (x - starts[k]), cum_len[k] + (x - starts[k])


@numba.njit(inline="always")
def _extreme(starts, ends, values, k: int, n: int, lo: int, hi: int, largest: bool) -> float:
    """max (or min) of the values of runs overlapping [lo, hi) from run k on (NaN if none)."""
    best = np.nan
    j = k
    while j < n and starts[j] < hi:
        if ends[j] > lo:
            v = values[j]
            if best != best or (v > best if largest else v < best):
                best = v
        j += 1
    return best


@numba.njit(inline="always")
def _finish(agg: int, gaps: int, total: float, cov: int, extreme: float, size: int) -> float:
    """The bin's value from its sum, covered bases and extreme, by aggregate and gap rule."""
    if agg == COVERAGE:
        return float(cov)
    if (gaps == NAN and cov < size) or (gaps == SKIP and cov == 0):
        return np.nan
    if agg == SUM:
        return total
    if agg == MEAN:
        return total / cov if gaps == SKIP else total / size
    if cov == 0:
        return 0.0  # gaps == ZERO, no data: every base counts as 0
    if gaps == ZERO and cov < size:
        return max(extreme, 0.0) if agg == MAX else min(extreme, 0.0)
    return extreme


@kernel
def aggregate_bins(
    starts: np.ndarray,
    ends: np.ndarray,
    values: np.ndarray,
    cum_sum: np.ndarray,
    cum_len: np.ndarray,
    positions: np.ndarray,
    length: int,
    bin_size: int,
    agg: int,
    gaps: int,
    out: np.ndarray,
) -> None:
    """``out[i, b]`` = aggregate of bin b of ``[positions[i], positions[i] + length)``."""
    n = starts.shape[0]
    bins = length // bin_size
    extremes = agg in (MAX, MIN)
    for i in range(positions.shape[0]):
        lo = positions[i]
        k = first_greater(ends, 0, n, lo)
        f_lo, c_lo = _below(starts, values, cum_sum, cum_len, k, n, lo)
        for b in range(bins):
            hi = lo + bin_size
            extreme = np.nan
            if extremes:
                extreme = _extreme(starts, ends, values, k, n, lo, hi, agg == MAX)
            k = _advance(ends, k, n, hi)
            f_hi, c_hi = _below(starts, values, cum_sum, cum_len, k, n, hi)
            out[i, b] = _finish(agg, gaps, f_hi - f_lo, c_hi - c_lo, extreme, bin_size)
            lo, f_lo, c_lo = hi, f_hi, c_hi


@kernel
def paint_max(
    starts: np.ndarray, ends: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlapping valued intervals -> disjoint runs, the largest value where they overlap.

    Input sorted by start. Elementary segments between consecutive boundaries; a segment
    covered by no interval is dropped. Used for peak conditions served as signal.
    """
    bounds = np.unique(np.concatenate((starts, ends)))
    seg = np.full(bounds.shape[0], -np.inf)
    for i in range(starts.shape[0]):
        a = np.searchsorted(bounds, starts[i])
        e = np.searchsorted(bounds, ends[i])
        for j in range(a, e):
            if values[i] > seg[j]:
                seg[j] = values[i]
    keep = np.flatnonzero(seg[:-1] > -np.inf)
    return bounds[keep], bounds[keep + 1], seg[keep].astype(np.float32)
