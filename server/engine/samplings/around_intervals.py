"""``around_intervals``: one window centred on each matching interval, with seeded jitter."""

from __future__ import annotations

from collections.abc import Callable

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
        None if source.exclusion is None else source.exclusion.allowed,
    )


def centred_windows(
    lengths: np.ndarray,
    seq_length: int,
    regions: np.ndarray,
    centres: np.ndarray,
    max_jitter: int,
    rng: np.random.Generator,
    allowed: Allowed | None = None,
) -> ListedWindows:
    """One window centred on each (region, centre), shifted by a seeded jitter.

    A window that would cross a chromosome end is moved inside it; one on a chromosome
    shorter than ``seq_length`` is dropped. With ``allowed`` (exclusion regions) a window
    whose jittered place is not allowed draws its jitter again, up to ``JITTER_ROUNDS``
    times (the windows still waiting, in order, one draw each per round): jitter is drawn
    from allowed places where there are any; the plan drops the windows left unallowed.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    regions = np.asarray(regions, dtype=np.int64)
    centred = np.asarray(centres, dtype=np.int64) - seq_length // 2
    starts = centred
    if max_jitter:
        starts = centred + rng.integers(-max_jitter, max_jitter + 1, size=centred.shape[0])
    region_lengths = lengths[regions]
    keep = region_lengths >= seq_length
    last = np.maximum(region_lengths - seq_length, 0)
    starts = np.clip(starts, 0, last)[keep]
    regions, centred, last = regions[keep], centred[keep], last[keep]
    if allowed is not None and max_jitter:
        waiting = np.flatnonzero(~allowed(regions, starts))
        for _ in range(JITTER_ROUNDS):
            if waiting.size == 0:
                break
            jitter = rng.integers(-max_jitter, max_jitter + 1, size=waiting.size)
            moved = np.clip(centred[waiting] + jitter, 0, last[waiting])
            ok = allowed(regions[waiting], moved)
            starts[waiting[ok]] = moved[ok]
            waiting = waiting[~ok]
    return ListedWindows(regions, starts)


#: Jitter draws a window on excluded bases gets before the plan drops it.
JITTER_ROUNDS = 8
Allowed = Callable[[np.ndarray, np.ndarray], np.ndarray]
