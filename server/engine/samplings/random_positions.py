"""``random``: that many windows drawn uniformly over every valid start, from the seed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from peaksql.core.errors import InvalidArgument
from peaksql.core.spec import DatasetSpec
from peaksql.server.engine.samplings.registry import Source, sampling
from peaksql.server.engine.windows import (
    DrawnWindows,
    ListedWindows,
    WindowSet,
    check_listed,
    first_valid_positions,
)


@sampling("random")
def random_sampling(spec: DatasetSpec, source: Source, rng: np.random.Generator) -> WindowSet:
    """``random`` windows, uniform over every position where a window fits.

    Drawn on demand from the seed (``DrawnWindows``), so their number costs no memory;
    with exclusion they are drawn by rejection and listed.
    """
    num_windows = spec.sampling_kwargs["random"]
    check_listed(num_windows)
    if source.exclusion is not None:
        return allowed_random_windows(
            source.lengths, spec.seq_length, num_windows, rng, source.exclusion.allowed
        )
    key = int(rng.integers(0, 2**63, dtype=np.int64))
    return DrawnWindows(source.lengths, spec.seq_length, num_windows, key)


#: Draws per round of ``allowed_random_windows`` at least, and its most rounds.
MIN_ROUND_DRAWS = 64
MAX_ROUNDS = 10_000


def allowed_random_windows(
    lengths: np.ndarray,
    seq_length: int,
    num_windows: int,
    rng: np.random.Generator,
    allowed: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> ListedWindows:
    """``num_windows`` starts uniform over the positions ``allowed`` accepts.

    Rounds of ``max(still needed, MIN_ROUND_DRAWS)`` uniform draws; the accepted ones are
    kept in draw order until there are enough (rejection sampling: uniform over the allowed
    positions, deterministic from the seed, never fewer windows than asked).
    """
    regions, starts, need = [], [], num_windows
    for _ in range(MAX_ROUNDS):
        if need <= 0:
            break
        drawn = random_windows(lengths, seq_length, max(need, MIN_ROUND_DRAWS), rng)
        keep = np.flatnonzero(allowed(drawn.regions, drawn.starts))[:need]
        regions.append(drawn.regions[keep])
        starts.append(drawn.starts[keep])
        need -= keep.size
    else:
        if need > 0:
            raise InvalidArgument(
                "the excluded regions leave almost no room: random windows could not be drawn"
            )
    empty = np.zeros(0, dtype=np.int64)
    return ListedWindows(np.concatenate([empty, *regions]), np.concatenate([empty, *starts]))


def random_windows(
    lengths: np.ndarray, seq_length: int, num_windows: int, rng: np.random.Generator
) -> ListedWindows:
    """``num_windows`` starts drawn uniformly over every valid position of every region."""
    first = first_valid_positions(lengths, seq_length)
    draws = rng.integers(0, int(first[-1]), size=num_windows, dtype=np.int64)
    region = np.searchsorted(first, draws, side="right") - 1
    return ListedWindows(region, draws - first[region])
