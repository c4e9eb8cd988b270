"""Random windows drawn on demand: window k is valid position splitmix64(key, k) mod total,
independent of which other windows are asked for, and the counts per region add up."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from peaksql.server.engine.windows import DrawnWindows
from tests.reference_sampling import _position, _splitmix64


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 5_000), min_size=1, max_size=6).filter(
        lambda ls: max(ls) >= 50
    ),
    num_windows=st.integers(1, 300),
    key=st.integers(0, 2**63 - 1),
)
def test_windows_equal_the_reference_in_any_order(
    lengths: list[int], num_windows: int, key: int
) -> None:
    windows = DrawnWindows(np.array(lengths), 50, num_windows, key)
    valid = [max(length - 50 + 1, 0) for length in lengths]
    expected = [_position(valid, _splitmix64(key, k) % sum(valid)) for k in range(num_windows)]
    order = np.random.default_rng(key % 1000).permutation(num_windows)
    regions, starts = windows.locate(order)
    assert list(zip(regions.tolist(), starts.tolist(), strict=True)) == [expected[k] for k in order]
    assert (starts + 50 <= np.array(lengths)[regions]).all()
    counts = windows.per_region_counts(len(lengths))
    assert counts.tolist() == np.bincount(regions, minlength=len(lengths)).tolist()
