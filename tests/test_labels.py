"""Coverage (merged intervals, prefix sums, bucket index) against painted boolean arrays."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from peaksql.core.label_modes import LABEL_MODES
from peaksql.core.spec import DatasetSpec
from peaksql.server.engine.labels import Coverage, labels_of

intervals = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 5000), st.integers(0, 400)), max_size=80
)


@settings(max_examples=150, deadline=None)
@given(
    intervals=intervals,
    windows=st.lists(st.integers(0, 6000), min_size=1, max_size=40),
    length=st.integers(1, 300),
)
def test_covered_bases_equal_painted_coverage(intervals, windows, length):
    num_columns = 4
    columns = np.array([c for c, _, _ in intervals], dtype=np.int64)
    starts = np.array([s for _, s, _ in intervals], dtype=np.int64)
    ends = starts + np.array([n for _, _, n in intervals], dtype=np.int64)
    coverage = Coverage.build(num_columns, columns, starts, ends)
    painted = np.zeros((num_columns, 7000), dtype=bool)
    for c, s, e in zip(columns, starts, ends, strict=True):
        painted[c, s:e] = True
    expected = np.array(
        [[painted[c, w : w + length].sum() for c in range(num_columns)] for w in windows]
    )
    got = coverage.covered(np.array(windows, dtype=np.int64), length)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        coverage.label("any", np.array(windows), length, 0.5), expected > 0
    )


def test_every_label_mode_gives_boolean_labels_of_its_shape():
    coverage = Coverage.build(
        2, np.array([0, 1]), np.array([5, 20]), np.array([15, 30]), np.array([10, 25])
    )
    starts = np.array([0, 10, 20], dtype=np.int64)
    boolean = {name: mode for name, mode in LABEL_MODES.items() if mode.dtype == "bool"}
    assert {"any", "all", "fraction", "summit", "per_base"} <= set(boolean)
    for name, mode in boolean.items():
        labels = labels_of(coverage, DatasetSpec(seq_length=8, label=name), starts, 8)
        assert labels.dtype == np.bool_, name
        assert labels.shape == (3, *mode.shape(2, 8)), name


def test_label_modes_give_labels_of_their_declared_dtype():
    """Every mode evaluable on interval coverage gives its declared dtype (signal modes
    need signal columns: tests/test_signals.py)."""
    coverage = Coverage.build(
        2, np.array([0, 1]), np.array([5, 20]), np.array([15, 30]), np.array([10, 25])
    )
    starts = np.array([0, 10, 20], dtype=np.int64)
    for name, mode in LABEL_MODES.items():
        if not hasattr(coverage, "signal") and mode.dtype == "float32":
            continue
        labels = labels_of(coverage, DatasetSpec(seq_length=8, label=name), starts, 8)
        assert labels.dtype == np.dtype(mode.dtype), name
