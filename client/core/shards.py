"""How one epoch is shared out between ranks: the arithmetic both client and server use.

Rank ``r`` of ``W`` takes epoch positions ``r, r + W, r + 2W, …``; with ``equal`` every rank
takes ``ceil(N / W)`` of them, a short rank wrapping to the start of the epoch (see
``peaksql.server.engine.order`` for the order and the cursor).
"""

from __future__ import annotations

import numpy as np

from peaksql.core.errors import InvalidArgument


def check_int(name: str, value: object, minimum: int = 0) -> int:
    """``value`` as an int; InvalidArgument if it is no integer (bools are not) or too small."""
    if type(value) is int and value >= minimum:  # the common case, once per batch and more
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgument(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InvalidArgument(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def num_positions(num_windows: int, rank: int, world_size: int, equal: bool = False) -> int:
    """How many epoch positions rank ``rank`` of ``world_size`` takes.

    ``ceil((N - rank) / W)`` (0 when ``rank >= N``); with ``equal`` every rank takes
    ``ceil(N / W)``, padding by wrapping to the start of the epoch.
    """
    num_windows = check_int("num_windows", num_windows)
    world_size = check_int("world_size", world_size, minimum=1)
    rank = check_int("rank", rank)
    if rank >= world_size:
        raise InvalidArgument(f"rank must be < world_size ({world_size}), got {rank}")
    if equal:
        return -(-num_windows // world_size)
    return max(0, -(-(num_windows - rank) // world_size))
