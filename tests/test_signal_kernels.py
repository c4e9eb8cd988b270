"""Property tests: the signal kernel and generic binning against per-base references."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from peaksql.core.label_targets import AGGREGATES, SIGNAL_GAPS, classes_of, evaluate_labels
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.signal_store import (
    RUNS_PER_BUCKET,
    bucket_index,
    bucket_index_of_chunks,
    index_shift,
)
from peaksql.server.engine.labels import Coverage
from peaksql.server.engine.signal_columns import Runs, SignalColumns
from peaksql.server.engine.signal_kernels import paint_max
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


def _columns(tracks_by_column: list[dict[int, list]]) -> SignalColumns:
    """Signal columns over runs drawn per (column, assembly); assembly a's region starts at
    plan base a * SPAN, so window starts in [a * SPAN, (a + 1) * SPAN) lie on assembly a."""
    tracks = []
    for by_assembly in tracks_by_column:
        column = {}
        for a, runs in by_assembly.items():
            array = np.array(runs, dtype=np.float64).reshape(-1, 3)
            column[a] = Runs.of(
                array[:, 0].astype(np.int64), array[:, 1].astype(np.int64), array[:, 2]
            )
        tracks.append(column)
    names = [f"c{i}" for i in range(len(tracks))]
    columns = SignalColumns(names, tracks, np.arange(len(tracks)), [None] * len(tracks))
    regions = np.arange(2, dtype=np.int64)
    columns.bind(regions * SPAN, np.zeros(2, np.int64), regions)
    return columns


def _painted(runs: list) -> np.ndarray:
    return ref.paint_signal(
        [("c", int(a), int(b), float(np.float32(v))) for a, b, v in runs], "c", SPAN
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from([0, 1]), tracks(), max_size=2), min_size=1, max_size=3
    ),
    st.sampled_from(AGGREGATES),
    st.sampled_from(SIGNAL_GAPS),
    st.sampled_from([1, 2, 5, 10, 50]),
    st.lists(
        st.tuples(st.sampled_from([0, 1]), st.integers(0, SPAN - 100)), min_size=1, max_size=6
    ),
)
def test_signal_columns_equal_painted(tracks_by_column, aggregate, gaps, bin_size, windows) -> None:  # type: ignore[no-untyped-def]
    """Every column of a batch in one kernel call, windows on two assemblies, a column
    missing from an assembly filled by the gap rule: each bin against per-base painting."""
    columns = _columns(tracks_by_column)
    starts = np.array([a * SPAN + s for a, s in windows], dtype=np.int64)
    out = columns.signal(starts, 100, bin_size, aggregate, gaps)
    assert out.shape == (len(windows), len(tracks_by_column), 100 // bin_size)
    for c, by_assembly in enumerate(tracks_by_column):
        for i, (a, s) in enumerate(windows):
            if a not in by_assembly:
                fill = 0.0 if aggregate == "coverage" or gaps == "zero" else np.nan
                np.testing.assert_array_equal(out[i, c], np.full(100 // bin_size, fill, np.float32))
                continue
            want = ref.aggregate_signal(_painted(by_assembly[a]), s, 100, bin_size, aggregate, gaps)
            np.testing.assert_allclose(out[i, c], want, rtol=1e-5, atol=1e-4)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 4000), st.integers(0, 30)), min_size=0, max_size=200),
    st.lists(st.integers(-5, 900_000), min_size=1, max_size=20),
)
def test_bucket_index_is_the_first_run_ending_after_each_bucket(gaps_and_lengths, xs) -> None:  # type: ignore[no-untyped-def]
    """Every bucket b: the runs before ``first[b]`` end at or before ``b << shift``, run
    ``first[b]`` ends after it; a position past the last bucket is past every run."""
    ends = np.cumsum([g + n for g, n in gaps_and_lengths]).astype(np.int64)
    first, shift = bucket_index(ends)
    if ends.size:
        assert first.shape[0] == (int(ends[-1]) >> shift) + 1
    for b, k in enumerate(first.tolist()):
        assert (ends[:k] <= b << shift).all() and (k == ends.size or ends[k] > b << shift)
    for x in xs:
        if max(x, 0) >> shift >= first.shape[0]:
            assert (ends <= x).all()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 3000), min_size=1, max_size=300),
    st.lists(st.integers(1, 50), min_size=1, max_size=10),
)
def test_bucket_index_of_chunks_equals_one_pass(steps, sizes) -> None:  # type: ignore[no-untyped-def]
    """The index built chunk by chunk (ingest reads the ends file in pieces) equals the one
    built over all ends at once, whatever the chunk sizes."""
    ends = np.cumsum(steps).astype(np.int64)
    cuts = np.cumsum(sizes * (len(ends) // sum(sizes) + 1))
    chunks = [c for c in np.split(ends, cuts[cuts < len(ends)]) if c.size]
    first, shift = bucket_index_of_chunks(iter(chunks), int(ends.size), int(ends[-1]))
    expected_first, expected_shift = bucket_index(ends)
    assert shift == expected_shift and np.array_equal(first, expected_first)


def test_index_shift_gives_about_the_bucket_size() -> None:
    shift = index_shift(3_000_000, 3_100_000_000)
    buckets = 3_100_000_000 >> shift
    assert RUNS_PER_BUCKET / 2 <= 3_000_000 / buckets <= RUNS_PER_BUCKET
    assert index_shift(0, 100) == 0


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
