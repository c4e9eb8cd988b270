"""The two ways ``labels.Coverage`` counts covered bases: the overlap scan and column sums.

For columns x window lengths over synthetic narrowPeak-like columns (300-bp peaks, a
column's peaks spread over the span), prints microseconds a window of each path
(best of 5), their ratio, and the path the cost model (``column_sums.prefer_sums``) picks;
a pick is right when it is the faster path or within 20 % of it. This is what
``SEARCH_STEP_COST`` is calibrated against.

``python -m tests.benchmarks.bench_label_paths``
"""

from __future__ import annotations

import time

import numpy as np

from peaksql.server.engine import overlap_kernels
from peaksql.server.engine.column_sums import prefer_sums
from peaksql.server.engine.labels import Coverage, _span

SPAN = 64_000_000
WINDOWS = 4_096


def _coverage(num_columns: int, per_column: int, seed: int = 0) -> Coverage:
    rng = np.random.default_rng(seed)
    columns = rng.permutation(np.repeat(np.arange(num_columns), per_column))
    starts = np.sort(rng.integers(0, SPAN, columns.size))
    ends = starts + rng.integers(100, 500, columns.size)
    return Coverage.build(num_columns, columns, starts, ends, (starts + ends) // 2)


def _best(fn, repeats: int = 5) -> float:  # type: ignore[no-untyped-def]
    fn()
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return best / WINDOWS * 1e6


def compare(coverage: Coverage, length: int, seed: int = 1) -> tuple[float, float, bool]:
    """(scan µs, sums µs, model picks sums) per window of ``length`` at random starts."""
    windows = np.random.default_rng(seed).integers(0, SPAN - length, WINDOWS)
    p = coverage.pieces

    def scan() -> np.ndarray:
        return overlap_kernels.covered_bases(
            windows, length, coverage.num_columns, p.values, coverage.ends, p.columns,
            p.first, p.shift, coverage.max_piece,
        )  # fmt: skip

    sums = coverage.column_sums
    picks = prefer_sums(
        coverage.num_pieces, _span(p), coverage.num_columns, length + coverage.max_piece
    )
    return _best(scan), _best(lambda: sums.covered(windows, length)), picks


def main() -> None:
    print("columns  intervals  length   scan µs  sums µs  sums/scan  model picks  right")
    for num_columns, per_column in ((8, 125_000), (50, 20_000), (500, 20_000)):
        coverage = _coverage(num_columns, per_column)
        for length in (1_000, 10_000, 32_768, 131_072):
            scan, sums, picks = compare(coverage, length)
            right = (sums if picks else scan) <= 1.2 * min(scan, sums)
            print(
                f"{num_columns:7d}  {num_columns * per_column:9,d}  {length:7,d}  {scan:7.2f}"
                f"  {sums:7.2f}  {sums / scan:9.2f}  {'sums' if picks else 'scan':>11}"
                f"  {'yes' if right else 'NO'}"
            )


if __name__ == "__main__":
    main()
