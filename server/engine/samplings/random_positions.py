"""``random``: that many windows drawn uniformly over every valid start, from the seed."""

from __future__ import annotations

import numpy as np

from peaksql.core.errors import InvalidArgument
from peaksql.core.spec import DatasetSpec
from peaksql.server.engine.samplings.registry import Source, sampling
from peaksql.server.engine.windows import ListedWindows, check_listed


@sampling("random")
def random_sampling(spec: DatasetSpec, source: Source, rng: np.random.Generator) -> ListedWindows:
    """``random`` windows, uniform over every position where a window fits."""
    num_windows = spec.sampling_kwargs["random"]
    check_listed(num_windows)
    return random_windows(source.lengths, spec.seq_length, num_windows, rng)


def random_windows(
    lengths: np.ndarray, seq_length: int, num_windows: int, rng: np.random.Generator
) -> ListedWindows:
    """``num_windows`` starts drawn uniformly over every valid position of every region."""
    valid = np.maximum(np.asarray(lengths, dtype=np.int64) - seq_length + 1, 0)
    total = int(valid.sum())
    if total == 0:
        raise InvalidArgument(
            f"no region is at least seq_length={seq_length} bases long: nothing to sample"
        )
    first = np.concatenate([[0], np.cumsum(valid)])
    draws = rng.integers(0, total, size=num_windows, dtype=np.int64)
    region = np.searchsorted(first, draws, side="right") - 1
    return ListedWindows(region, draws - first[region])
