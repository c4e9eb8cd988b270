"""Epoch order, sharding and resume: position -> window index without storing a permutation.

    epoch position p --shard(rank r of W)--> p = r + k·W --π(seed, epoch)--> window index

- **Order**: π is a seeded bijection of ``[0, N)``: an unbalanced Feistel network over the
  ``n = bit_length(N - 1)`` bits of a position (the two halves swap widths each round), keyed
  by splitmix64 of (seed, epoch, round), with cycle-walking (re-apply while the value is
  ``>= N``; since ``2**n < 2N``, under two passes on average). O(1) memory, any position
  computable on its own, and only uint64 integer arithmetic with explicit wrap-around, so
  every machine, process and numpy version gives the same order. ``shuffle=False`` is the
  identity.
- **Sharding**: rank ``r`` of ``W`` takes epoch positions ``r, r + W, r + 2W, …``; the ranks
  are disjoint and together cover the epoch. With ``equal=True`` every rank takes
  ``ceil(N / W)`` positions: a rank that comes short continues past ``N`` and wraps to
  ``p mod N``, i.e. repeats windows from the start of the epoch, exactly like
  ``torch.utils.data.DistributedSampler`` pads its index list (so DDP ranks run the same
  number of steps; at most ``W - 1`` windows of the epoch are seen twice).
- **Resume**: a ``Cursor`` (epoch, rank, world_size, delivered) is a few integers; the next
  positions after it are arithmetic, O(count).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from peaksql.core.errors import InvalidArgument
from peaksql.core.shards import check_int, num_positions
from peaksql.server.engine.kernels import feistel_walk as _fast_walk  # numpy: the reference

_MASK64 = (1 << 64) - 1
#: Feistel rounds; an unbalanced network needs more than the Luby-Rackoff four.
NUM_ROUNDS = 8
#: Positions are int64, so an epoch holds fewer than 2**63 windows.
MAX_WINDOWS = 1 << 63


def _splitmix64(value: int) -> int:
    """splitmix64 finaliser on a Python int (deterministic, unlike ``hash()``)."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)


def _mix_array(values: np.ndarray, key: np.uint64) -> np.ndarray:
    """splitmix64 of ``values + key`` on a uint64 array (array arithmetic wraps mod 2**64)."""
    z = values + key
    z = (z ^ (z >> np.uint64(30))) * _C1
    z = (z ^ (z >> np.uint64(27))) * _C2
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class EpochOrder:
    """The bijection π of ``[0, num_windows)`` for one (seed, epoch); identity without shuffle."""

    num_windows: int
    seed: int
    epoch: int
    shuffle: bool = True

    def __post_init__(self) -> None:
        check_int("num_windows", self.num_windows)
        if self.num_windows >= MAX_WINDOWS:
            raise InvalidArgument(f"num_windows must be < 2**63, got {self.num_windows}")
        check_int("seed", self.seed, minimum=-(1 << 63))
        if self.seed >= 1 << 64:
            raise InvalidArgument(f"seed must be < 2**64, got {self.seed}")
        check_int("epoch", self.epoch)

    @property
    def _num_bits(self) -> int:
        return max(2, (self.num_windows - 1).bit_length())

    @cached_property
    def _keys(self) -> np.ndarray:
        """The round keys of (seed, epoch), uint64: computed once per order, not per batch."""
        base = _splitmix64(_splitmix64(self.seed & _MASK64) ^ self.epoch)
        return np.array([_splitmix64(base ^ r) for r in range(NUM_ROUNDS)], dtype=np.uint64)

    def _feistel(self, x: np.ndarray, keys: list[np.uint64]) -> np.ndarray:
        """One pass of the network over ``n``-bit values; a bijection of ``[0, 2**n)``."""
        left_bits = self._num_bits - self._num_bits // 2
        right_bits = self._num_bits // 2
        for key in keys:
            right_mask = np.uint64((1 << right_bits) - 1)
            left = x >> np.uint64(right_bits)
            right = x & right_mask
            # (left, right) -> (right, left ^ F(right)): the widths swap, so does the split.
            new_right = left ^ (_mix_array(right, key) & np.uint64((1 << left_bits) - 1))
            x = (right << np.uint64(left_bits)) | new_right
            left_bits, right_bits = right_bits, left_bits
        return x

    def window_indices(self, positions: np.ndarray) -> np.ndarray:
        """π(positions) as int64; every position must lie in ``[0, num_windows)``."""
        pos = np.asarray(positions)
        if pos.size and not np.issubdtype(pos.dtype, np.integer):
            raise InvalidArgument(f"positions must be integers, got dtype {pos.dtype}")
        pos = pos.astype(np.int64, copy=False)
        if pos.size and (pos.min() < 0 or pos.max() >= self.num_windows):
            raise InvalidArgument(
                f"positions must lie in [0, {self.num_windows}), got [{pos.min()}, {pos.max()}]"
            )
        if not self.shuffle or self.num_windows <= 1:
            return pos.copy()
        return _fast_walk(pos, self._keys, self._num_bits, self.num_windows)

    def reference_indices(self, pos: np.ndarray) -> np.ndarray:
        """π by whole-array numpy rounds: the reference the numba kernel must equal."""
        keys = list(self._keys)
        limit = np.uint64(self.num_windows)
        out = self._feistel(pos.astype(np.uint64), keys)
        # Cycle-walking: values that left [0, N) go round again until they come back.
        outside = np.flatnonzero(out >= limit)
        while outside.size:
            out[outside] = self._feistel(out[outside], keys)
            outside = outside[out[outside] >= limit]
        return out.astype(np.int64)


def window_indices(
    positions: np.ndarray, num_windows: int, seed: int, epoch: int, shuffle: bool = True
) -> np.ndarray:
    """Window index of each epoch position: π(positions) for (seed, epoch)."""
    return EpochOrder(num_windows, seed, epoch, shuffle).window_indices(positions)


@dataclass(frozen=True)
class Cursor:
    """Where one rank's stream stands: ``delivered`` windows of ``epoch`` already sent."""

    epoch: int
    rank: int
    world_size: int
    delivered: int = 0
    #: epoch positions ``[0, offset)`` were delivered before an elastic resume
    offset: int = 0

    def __post_init__(self) -> None:
        check_int("epoch", self.epoch)
        check_int("world_size", self.world_size, minimum=1)
        check_int("rank", self.rank)
        if self.rank >= self.world_size:
            raise InvalidArgument(f"rank must be < world_size ({self.world_size}), got {self.rank}")
        check_int("delivered", self.delivered)
        check_int("offset", self.offset)

    def advanced(self, count: int) -> Cursor:
        """The cursor after ``count`` more windows were delivered."""
        delivered = self.delivered + check_int("count", count)
        return Cursor(self.epoch, self.rank, self.world_size, delivered, self.offset)


def positions_for(cursor: Cursor, count: int, num_windows: int, equal: bool = False) -> np.ndarray:
    """The next ``count`` epoch positions of the cursor's rank (fewer at the end of the epoch).

    Arithmetic only, O(count): position ``offset + rank + W·k`` for ``k = delivered,
    delivered + 1, …``, taken ``mod N`` when ``equal`` pads a short rank. ``offset`` is where
    an elastic resume (``peaksql.core.elastic``) re-shards the rest of the epoch.
    """
    count = check_int("count", count)
    # an offset past the end is an epoch finished (equal shares padded past N before the resume)
    remaining = max(num_windows - cursor.offset, 0)
    total = num_positions(remaining, cursor.rank, cursor.world_size, equal)
    if cursor.delivered > total:
        raise InvalidArgument(
            f"delivered must be <= {total} (positions of rank {cursor.rank} of "
            f"{cursor.world_size} in an epoch of {remaining}), got {cursor.delivered}"
        )
    stop = min(total, cursor.delivered + count)
    steps = np.arange(cursor.delivered, stop, dtype=np.int64)
    positions = cursor.offset + cursor.rank + steps * cursor.world_size
    if equal and stop > 0:
        positions %= num_windows
    return positions
