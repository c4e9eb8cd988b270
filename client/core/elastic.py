"""Elastic resume: continue an epoch on a different number of ranks, every window once.

DDP ranks advance in lockstep with ``equal_shares`` (every rank takes ``ceil(N / W)``
positions, so every rank has delivered the same ``k`` windows at any step). Rank ``r`` of
``W`` takes epoch positions ``offset + r + j·W``; after ``k`` windows per rank the positions
``[offset, offset + k·W)`` are done, exactly. So the state of any one rank says where the
whole job stands: the rest of the epoch, ``[offset + k·W, N)``, is re-sharded over the new
world (``Cursor.offset``), whatever its size.

A state saved without ``equal_shares`` cannot say that: its ranks may stand at different
counts, and the done positions need not be a prefix. Loading it into another rank or world
size is refused (a silent duplicate or gap is worse than an error).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from peaksql.core.errors import InvalidArgument


def resume_position(state: Mapping[str, Any], rank: int, world_size: int) -> tuple[int, int, int]:
    """(epoch, delivered, offset) for rank ``rank`` of ``world_size`` from a saved ``state``.

    The same rank of the same world continues its own cursor; any other rank or world size
    starts the rest of the epoch, re-sharded, when the state was saved under equal_shares.
    """
    epoch = int(state["epoch"])
    delivered = int(state["delivered"])
    offset = int(state.get("offset", 0))
    same_shard = (state.get("rank", rank), state.get("world_size", world_size)) == (
        rank,
        world_size,
    )
    if same_shard:
        return epoch, delivered, offset
    if not state.get("equal_shares", False):
        raise InvalidArgument(
            f"state was saved with equal_shares=False by rank {state.get('rank')} of "
            f"{state.get('world_size')}: its ranks need not stand at the same count, so the "
            f"epoch cannot be resumed exactly on rank {rank} of {world_size} (use "
            "equal_shares=True for elastic resume)"
        )
    return epoch, 0, offset + delivered * int(state["world_size"])
