"""Property tests: the signal kernel and generic binning against per-base references."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from peaksql.core.label_targets import AGGREGATES, SIGNAL_GAPS, classes_of, evaluate_labels
from peaksql.core.spec import DatasetSpec
from peaksql.server.engine.labels import Coverage
from peaksql.server.engine.signal_columns import Runs
from peaksql.server.engine.signal_kernels import aggregate_bins, paint_max
from tests import reference as ref

SPAN = 400


@st.composite
def tracks(draw):  # type: ignore[no-untyped-def]
    cuts = sorted(set(draw(st.lists(st.integers(0, SPAN), min_size=0, max_size=30))))
    runs = []
    for a, b in zip(cuts[::2], cuts[1::2], strict=False):
        if b > a:
            runs.append((a, b, draw(st.floats(-5, 5, allow_nan=False, width=32))))
    return runs


@settings(max_examples=150, deadline=None)
@given(
    tracks(),
    st.sampled_from(AGGREGATES),
    st.sampled_from(SIGNAL_GAPS),
    st.sampled_from([1, 2, 5, 10, 50]),
    st.lists(st.integers(0, SPAN - 100), min_size=1, max_size=5),
)
def test_aggregate_bins_equals_painted(runs, aggregate, gaps, bin_size, starts) -> None:  # type: ignore[no-untyped-def]
    array = np.array(runs, dtype=np.float64).reshape(-1, 3)
    track = Runs.of(array[:, 0].astype(np.int64), array[:, 1].astype(np.int64), array[:, 2])
    positions = np.array(starts, dtype=np.int64)
    out = np.empty((positions.size, 100 // bin_size), np.float32)
    aggregate_bins(
        track.starts, track.ends, track.values, track.cum_sum, track.cum_len, positions,
        100, bin_size, AGGREGATES.index(aggregate), SIGNAL_GAPS.index(gaps), out,
    )  # fmt: skip
    per_base = ref.paint_signal(
        [("c", int(a), int(b), float(np.float32(v))) for a, b, v in runs], "c", SPAN
    )
    for i, s in enumerate(starts):
        want = ref.aggregate_signal(per_base, s, 100, bin_size, aggregate, gaps)
        np.testing.assert_allclose(out[i], want, rtol=1e-5, atol=1e-4)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(1, 60), st.floats(0, 9)), max_size=20))
def test_paint_max_takes_the_largest_overlap(intervals) -> None:  # type: ignore[no-untyped-def]
    intervals = sorted(intervals)
    starts = np.array([a for a, _, _ in intervals], dtype=np.int64)
    ends = starts + np.array([n for _, n, _ in intervals], dtype=np.int64)
    values = np.array([v for _, _, v in intervals], dtype=np.float64)
    s, e, v = paint_max(starts, ends, values)
    painted = np.full(400, -np.inf)
    for a, b, x in zip(starts, ends, values, strict=True):
        painted[a:b] = np.maximum(painted[a:b], x)
    got = np.full(400, -np.inf)
    for a, b, x in zip(s, e, v, strict=True):
        got[a:b] = x
    np.testing.assert_allclose(got, painted.astype(np.float32))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 500), st.integers(1, 80)), max_size=25),
    st.sampled_from(["any", "all", "fraction", "summit", "class"]),
    st.sampled_from([8, 16, 64]),
)
def test_generic_bins_equal_sub_windows(intervals, mode, bin_size) -> None:  # type: ignore[no-untyped-def]
    cols = np.array([c for c, _, _ in intervals], dtype=np.int64)
    starts = np.array([s for _, s, _ in intervals], dtype=np.int64)
    ends = starts + np.array([n for _, _, n in intervals], dtype=np.int64)
    coverage = Coverage.build(4, cols, starts, ends, (starts + ends) // 2)
    windows = np.arange(0, 400, 37, dtype=np.int64)
    spec = DatasetSpec(seq_length=128, label=mode, bin_size=bin_size, fraction=0.25)
    binned = evaluate_labels(coverage, windows, 128, spec)
    plain = DatasetSpec(seq_length=bin_size, label=mode, fraction=0.25)
    for b in range(128 // bin_size):
        want = evaluate_labels(coverage, windows + b * bin_size, bin_size, plain)
        np.testing.assert_array_equal(binned[..., b], want)


@given(st.lists(st.lists(st.floats(0, 1), min_size=3, max_size=3), min_size=1, max_size=20))
def test_classes_of_equals_reference(rows) -> None:  # type: ignore[no-untyped-def]
    got = classes_of(np.array(rows), 0.3)
    assert got.tolist() == [ref.class_of(r, 0.3) for r in rows]
