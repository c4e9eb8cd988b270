"""numba kernels of signal labels: aggregate piecewise-constant runs per bin.

A track is sorted, disjoint runs ``[starts[k], ends[k])`` of value ``values[k]`` with prefix
sums ``cum_sum[k]`` (of value x length over runs before k) and ``cum_len[k]`` (of length),
one more entry than runs (``signal_store`` draws the files). For ``F(x)`` = the sum of values
over bases below ``x`` and ``k(x)`` = the first run ending after ``x``::

    F(x) = cum_sum[k(x)] + values[k(x)] * max(0, x - starts[k(x)])

so the sum (and, with ``cum_len``, the covered length) of any range needs ``k`` at its ends.

Finding ``k``. A window's first run comes from the track's bucket index
(``signal_store.bucket_index``: ``first[b] = k(b << shift)``, a bucket spanning 16-32
runs): one read and a short forward scan, where a binary search of a genome-scale track is
~26 dependent reads that miss the cache. Bin boundaries
are consecutive: each next ``k`` is found forward from the last, by a scan when a bin spans
one or two runs, else by a branch-free binary search of a few times the runs a bin spans
(``_search_width``), galloping past that. max and min walk the runs of the bin.

``aggregate_columns`` fills a whole batch, every column, in one call: the tracks travel as
one numba typed list of array tuples (``signal_runs.kernel_tracks``, built once per plan),
so a batch pays one dispatch, not one per column. Kernels release the GIL and are cached
on disk (``jit``).
"""

from __future__ import annotations

import numba
import numpy as np

from peaksql.server.catalog.signal_store import ZOOM_BASES
from peaksql.server.engine.jit import kernel
from peaksql.server.engine.kernels import first_greater

#: Aggregate codes (the order of ``label_targets.AGGREGATES``).
MEAN, SUM, MAX, MIN, COVERAGE = 0, 1, 2, 3, 4
#: Gap codes (the order of ``label_targets.SIGNAL_GAPS``).
ZERO, NAN, SKIP = 0, 1, 2
#: Runs scanned one by one before galloping.
LINEAR_STEPS = 8


@numba.njit(inline="always")
def _advance(ends: np.ndarray, k: int, n: int, x: int) -> int:
    """First j >= k with ends[j] > x (n if none): a short scan, then galloping."""
    stop = min(k + LINEAR_STEPS, n)
    while k < stop:
        if ends[k] > x:
            return k
        k += 1
    lo = k
    hi = k
    step = 1
    while hi < n and ends[hi] <= x:
        lo = hi + 1
        hi = min(lo + step, n)
        step *= 2
    return first_greater(ends, lo, min(hi, n), x)


@numba.njit(inline="always")
def _next(ends: np.ndarray, k: int, n: int, x: int, width: int) -> int:
    """k(x) from k <= k(x): a branch-free binary search of ``[k, k + width)`` when the
    answer lies there (``width``: a power of two, 0 to scan), else ``_advance``."""
    if width and k + width <= n and ends[k + width - 1] > x:
        step = width >> 1
        while step:
            k = k + step if ends[k + step - 1] <= x else k
            step >>= 1
        return k
    return _advance(ends, k, n, x)


@numba.njit(inline="always")
def _search_width(starts: np.ndarray, ends: np.ndarray, bin_size: int) -> int:
    """0 (scan run by run) when a bin spans under two runs on average, else the power of
    two above twice the runs a bin spans (a scan mispredicts once a run; a binary search
    costs a few loads, with no branch to mispredict)."""
    n = starts.shape[0]
    if n == 0:
        return 0
    per_bin = bin_size * n / max(ends[n - 1] - starts[0], 1)
    if per_bin < 2.0:
        return 0
    width = 4
    while width < 2.0 * per_bin and width < 1024:
        width *= 2
    return width


@numba.njit(inline="always")
def _locate(ends: np.ndarray, first: np.ndarray, shift: int, x: int) -> int:
    """k(x) through the bucket index."""
    b = max(x, 0) >> shift
    if b >= first.shape[0]:
        return ends.shape[0]
    return _advance(ends, first[b], ends.shape[0], x)


@numba.njit(inline="always")
def _below(starts, values, cum_sum, cum_len, k: int, n: int, x: int) -> tuple:
    """(sum of values, covered bases) below x, given k = k(x)."""
    if k >= n or starts[k] >= x:
        return cum_sum[k], cum_len[k]
    return cum_sum[k] + values[k] * (x - starts[k]), cum_len[k] + (x - starts[k])


@numba.njit(inline="always")
def _sum_below(starts, ends, values, cum_sum, k: int, n: int, x: int) -> float:
    """The sum of values below x, given k = k(x) and n > 0, without a branch: the run
    clamped to [0, n - 1] and the overlap to [0, its length] (k = n: x is past the last
    run, whose whole length counts, which gives cum_sum[n])."""
    kk = min(k, n - 1)
    start = starts[kk]
    return cum_sum[kk] + values[kk] * min(max(x - start, 0), ends[kk] - start)


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


@numba.njit(inline="always")
def _window(
    starts, ends, values, cum_sum, cum_len, first, shift, lo, bin_size, width, agg, gaps, out, i, c
):
    """Bins of one window of one track into ``out[i, c, :]``."""
    n = starts.shape[0]
    extremes = agg in (MAX, MIN)
    k = _locate(ends, first, shift, lo)
    f_lo, c_lo = _below(starts, values, cum_sum, cum_len, k, n, lo)
    for b in range(out.shape[2]):
        hi = lo + bin_size
        extreme = np.nan
        if extremes:
            extreme = _extreme(starts, ends, values, k, n, lo, hi, agg == MAX)
        k = _advance(ends, k, n, hi)
        f_hi, c_hi = _below(starts, values, cum_sum, cum_len, k, n, hi)
        out[i, c, b] = _finish(agg, gaps, f_hi - f_lo, c_hi - c_lo, extreme, bin_size)
        lo, f_lo, c_lo = hi, f_hi, c_hi


@numba.njit(inline="always")
def _sum_window(starts, ends, values, cum_sum, first, shift, lo, bin_size, width, scale, out, i, c):
    """Sums of the bins of one window (times ``scale``: 1 for sum, 1 / bin_size for mean
    with gaps as 0) into ``out[i, c, :]``: the common case, three arrays and no branch
    on the aggregate."""
    n = starts.shape[0]
    if n == 0:
        out[i, c, :] = 0.0
        return
    k = _locate(ends, first, shift, lo)
    f_lo = _sum_below(starts, ends, values, cum_sum, k, n, lo)
    for b in range(out.shape[2]):
        hi = lo + bin_size
        k = _next(ends, k, n, hi, width)
        f_hi = _sum_below(starts, ends, values, cum_sum, k, n, hi)
        out[i, c, b] = (f_hi - f_lo) * scale
        lo, f_lo = hi, f_hi


@numba.njit(inline="always")
def _zoom_start(zoom_regions: np.ndarray, region: int, lo: int, span: int) -> int:
    """The zoom cell where a window ``[lo, lo + span)`` of ``region`` starts, or -1 when it
    does not start on a cell boundary or its chromosome has no cells here."""
    first, offset, cells = zoom_regions[region, 0], zoom_regions[region, 1], zoom_regions[region, 2]
    rel = lo - offset
    if first < 0 or rel < 0 or rel % ZOOM_BASES or rel + span > cells * ZOOM_BASES:
        return -1
    return first + rel // ZOOM_BASES


@numba.njit(inline="always")
def _zoom_window(zoom, cell: int, per_bin: int, scale: float, out, i: int, c: int) -> None:
    """Bins of ``per_bin`` consecutive zoom cells from ``cell``: one sequential read."""
    for b in range(out.shape[2]):
        total = 0.0
        for q in range(cell + b * per_bin, cell + (b + 1) * per_bin):
            total += zoom[q]
        out[i, c, b] = total * scale


@kernel
def aggregate_columns(
    tracks,  # typed list: (starts, ends, values, cum_sum, cum_len, first, shift, zoom, regions)
    present: np.ndarray,
    positions: np.ndarray,
    regions: np.ndarray,
    region_assembly: np.ndarray,
    bin_size: int,
    agg: int,
    gaps: int,
    out: np.ndarray,
) -> None:
    """``out[i, c, b]`` = aggregate of bin b of window i (from ``positions[i]``, in plan
    region ``regions[i]``) of column c.

    Track t = c * A + a is column c on assembly a (A = ``len(present) // C``); a column
    without a track on the window's assembly gets 0 (coverage, gaps zero) or NaN. A mean or
    sum with gaps as 0, in bins of whole zoom cells, of a window starting on a cell of its
    chromosome, adds zoom cells instead of searching runs.
    """
    num_columns = out.shape[1]
    num_assemblies = present.shape[0] // num_columns
    fill = 0.0 if agg == COVERAGE or gaps == ZERO else np.nan
    simple = gaps == ZERO and agg in (MEAN, SUM)
    zoomed = simple and bin_size % ZOOM_BASES == 0
    scale = 1.0 / bin_size if agg == MEAN else 1.0
    span = bin_size * out.shape[2]
    for c in range(num_columns):
        for a in range(num_assemblies):
            t = c * num_assemblies + a
            if not present[t]:
                for i in range(positions.shape[0]):
                    if region_assembly[regions[i]] == a:
                        out[i, c, :] = fill
                continue
            s, e, v, cs, cl, f, shift, zoom, zoom_regions = tracks[t]
            width = _search_width(s, e, bin_size)
            for i in range(positions.shape[0]):
                if region_assembly[regions[i]] != a:
                    continue
                lo = positions[i]
                cell = _zoom_start(zoom_regions, regions[i], lo, span) if zoomed else -1
                if cell >= 0:
                    _zoom_window(zoom, cell, bin_size // ZOOM_BASES, scale, out, i, c)
                elif simple:
                    _sum_window(s, e, v, cs, f, shift, lo, bin_size, width, scale, out, i, c)
                else:
                    _window(s, e, v, cs, cl, f, shift, lo, bin_size, width, agg, gaps, out, i, c)


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
