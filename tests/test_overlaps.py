"""The overlap index (``labels.Coverage``) against brute force: painted boolean arrays."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from peaksql.core.spec import DatasetSpec
from peaksql.server.engine import overlap_kernels
from peaksql.server.engine.column_sums import prefer_sums
from peaksql.server.engine.labels import Coverage, labels_of

SPAN = 3_000


@st.composite
def _intervals(draw: st.DrawFn) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    num_columns = draw(st.integers(1, 6))
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, num_columns - 1),
                st.integers(0, SPAN),
                st.one_of(st.integers(0, 40), st.integers(0, 400), st.integers(0, 2_500)),
            ),
            max_size=60,
        )
    )
    columns = np.array([r[0] for r in rows], dtype=np.int64)
    starts = np.array([r[1] for r in rows], dtype=np.int64)
    ends = np.array([min(r[1] + r[2], SPAN + 500) for r in rows], dtype=np.int64)
    return num_columns, columns, starts, ends


def _painted(num_columns: int, columns: np.ndarray, starts: np.ndarray, ends: np.ndarray):
    paint = np.zeros((num_columns, SPAN + 2_000), dtype=bool)
    for c, s, e in zip(columns, starts, ends, strict=True):
        paint[c, s:e] = True
    return paint


@settings(max_examples=150, deadline=None)
@given(
    _intervals(),
    st.lists(st.integers(-300, SPAN + 200), min_size=1, max_size=12),
    st.integers(1, 700),
)
def test_queries_match_brute_force(case, windows: list[int], length: int) -> None:
    num_columns, columns, starts, ends = case
    points = (starts + ends) // 2
    coverage = Coverage.build(num_columns, columns, starts, ends, points)
    paint = _painted(num_columns, columns, starts, ends)
    offset = 400  # windows may start before 0: shift the painted array
    paint = np.pad(paint, ((0, 0), (offset, 0)))
    w = np.array(windows, dtype=np.int64)
    mask = np.stack([paint[:, s + offset : s + offset + length] for s in w])
    np.testing.assert_array_equal(coverage.covered_mask(w, length), mask)
    np.testing.assert_array_equal(coverage.covered(w, length), mask.sum(axis=2))
    counts = np.zeros((w.size, num_columns), dtype=np.int64)
    for i, s in enumerate(w):
        for c, p in zip(columns, points, strict=True):
            counts[i, c] += s <= p < s + length
    np.testing.assert_array_equal(coverage.count_points(w, length), counts)


@settings(max_examples=150, deadline=None)
@given(
    _intervals(),
    st.lists(st.integers(-300, SPAN + 200), min_size=1, max_size=12),
    st.integers(1, 3_000),
)
def test_column_sums_and_the_scan_agree_with_brute_force(case, windows, length) -> None:
    """Both ways ``Coverage`` may answer (it picks by cost) give the painted answer."""
    num_columns, columns, starts, ends = case
    points = (starts + ends) // 2
    coverage = Coverage.build(num_columns, columns, starts, ends, points)
    offset = 400
    paint = np.pad(_painted(num_columns, columns, starts, ends), ((0, 0), (offset, length)))
    w = np.array(windows, dtype=np.int64)
    want = np.stack([paint[:, s + offset : s + offset + length].sum(axis=1) for s in w])
    p = coverage.pieces
    scanned = overlap_kernels.covered_bases(
        w, length, num_columns, p.values, coverage.ends, p.columns, p.first, p.shift,
        coverage.max_piece,
    )  # fmt: skip
    np.testing.assert_array_equal(scanned, want)
    np.testing.assert_array_equal(coverage.column_sums.covered(w, length), want)
    counts = np.array(
        [[np.sum((columns == c) & (s <= points) & (points < s + length)) for c in
          range(num_columns)] for s in w]
    )  # fmt: skip
    np.testing.assert_array_equal(coverage.column_sums.count_points(w, length), counts)


def test_long_windows_over_dense_columns_take_the_column_sums() -> None:
    """The cost model: 8 columns of 1M pieces over 64 Mbp, scanned 2,000 a 131 kbp window,
    take two searches per column; 1 kbp windows and 500 columns keep the scan."""
    assert prefer_sums(1_000_000, 64_000_000, 8, 131_072 + 512)
    assert not prefer_sums(1_000_000, 64_000_000, 8, 1_000 + 512)
    assert not prefer_sums(10_000_000, 3_100_000_000, 500, 131_072 + 512)
    assert not prefer_sums(0, 0, 8, 131_072)


@settings(max_examples=60, deadline=None)
@given(_intervals(), st.lists(st.integers(0, SPAN), min_size=1, max_size=8))
def test_every_label_mode_keeps_its_meaning(case, windows: list[int]) -> None:
    num_columns, columns, starts, ends = case
    coverage = Coverage.build(num_columns, columns, starts, ends, (starts + ends) // 2)
    paint = _painted(num_columns, columns, starts, ends)
    w = np.array(windows, dtype=np.int64)
    length = 200
    mask = np.stack([paint[:, s : s + length] for s in w])
    expected = {
        "any": mask.any(axis=2),
        "all": mask.all(axis=2),
        "fraction": mask.sum(axis=2) / length >= 0.5,
        "per_base": mask,
    }
    for mode, want in expected.items():
        spec = DatasetSpec(seq_length=length, label=mode, fraction=0.5)
        np.testing.assert_array_equal(labels_of(coverage, spec, w, length), want)


def test_long_intervals_are_cut_and_still_exact() -> None:
    starts = np.array([0, 10, 100_000], dtype=np.int64)
    ends = np.array([200_000, 20, 100_001], dtype=np.int64)
    coverage = Coverage.build(2, np.array([0, 1, 1]), starts, ends)
    assert coverage.max_piece <= 1 << 16
    got = coverage.covered(np.array([-50, 150_000, 99_990], dtype=np.int64), 100)
    np.testing.assert_array_equal(got, [[50, 10], [100, 0], [100, 1]])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 5_000), max_size=400),
    st.integers(0, 14),
    st.booleans(),
)
def test_bucket_order_is_a_stable_sort_and_its_counts_the_index(values, shift, crowd) -> None:
    """Counting sort by bucket (insertion or merge sort inside) equals numpy's stable sort;
    ``first`` equals searchsorted of the bucket edges. ``crowd`` piles values in a bucket."""
    from peaksql.server.engine.index_kernels import bucket_order

    array = np.array(values + ([77] * 70 if crowd else []), dtype=np.int64)
    order, first = bucket_order(array, shift)
    np.testing.assert_array_equal(order, np.argsort(array, kind="stable"))
    if array.size:
        edges = np.arange((int(array.max()) >> shift) + 2, dtype=np.int64) << shift
        np.testing.assert_array_equal(first, np.searchsorted(np.sort(array), edges))


@settings(max_examples=100, deadline=None)
@given(_intervals())
def test_merge_kernel_is_the_union_per_column(drawn) -> None:
    """``merge_sorted`` against painting: each column's union, touching intervals joined."""
    from peaksql.server.engine.index_kernels import merge_sorted

    num_columns, columns, starts, ends = drawn[:4]
    order = np.lexsort((starts, columns))
    got = merge_sorted(columns[order], starts[order], ends[order])
    for column in range(num_columns):
        painted = np.zeros(SPAN + 600, bool)
        for s, e in zip(starts[columns == column], ends[columns == column], strict=True):
            painted[s:e] = True
        mine = np.zeros_like(painted)
        for s, e in zip(got[1][got[0] == column], got[2][got[0] == column], strict=True):
            assert not mine[s:e].any() and not mine[max(s - 1, 0)]  # disjoint, not touching
            mine[s:e] = True
        np.testing.assert_array_equal(mine, painted)
