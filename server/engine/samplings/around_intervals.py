"""``around_intervals``: one window centred on each matching interval, with seeded jitter."""

from __future__ import annotations

import numpy as np

from peaksql.core.spec import DatasetSpec
from peaksql.server.engine.samplings.registry import Source, sampling
from peaksql.server.engine.windows import ListedWindows


@sampling("around_intervals")
def around_intervals(spec: DatasetSpec, source: Source, rng: np.random.Generator) -> ListedWindows:
    """A window on each interval's summit (or midpoint), shifted by up to ``max_jitter``."""
    # deterministic order whatever order the database returned: region, start, end, centre
    order = np.lexsort((source.centres, source.ends, source.starts, source.regions))
    return centred_windows(
        source.lengths,
        spec.seq_length,
        source.regions[order],
        source.centres[order],
        spec.sampling_kwargs["max_jitter"],
        rng,
    )


def centred_windows(
    lengths: np.ndarray,
    seq_length: int,
    regions: np.ndarray,
    centres: np.ndarray,
    max_jitter: int,
    rng: np.random.Generator,
) -> ListedWindows:
    """One window centred on each (region, centre), shifted by a seeded jitter.

    A window that would cross a chromosome end is moved inside it; one on a chromosome
    shorter than ``seq_length`` is dropped.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.asarray(centres, dtype=np.int64) - seq_length // 2
    if max_jitter:
        starts = starts + rng.integers(-max_jitter, max_jitter + 1, size=starts.shape[0])
    region_lengths = lengths[regions]
    keep = region_lengths >= seq_length
    starts = np.clip(starts, 0, np.maximum(region_lengths - seq_length, 0))
    return ListedWindows(np.asarray(regions)[keep], starts[keep])
