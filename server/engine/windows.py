"""Window sets: index -> (region, start), whatever sampling made them (see ARCHITECTURE.md).

Stride windows are virtual (arithmetic and a binary search over cumulative counts), so a
genome tiled at stride 1 costs nothing to hold; so are random windows (``DrawnWindows``:
draw k is a hash of the seed and k), so ``random=200_000_000`` costs kilobytes, not GB.
Around-interval, N-filtered and excluded windows are listed: two arrays of the size of the
dataset. The samplings themselves live in
``peaksql.server.engine.samplings``, one module each.
"""

from __future__ import annotations

import numpy as np

from peaksql.core.errors import InvalidArgument
from peaksql.server.engine.jit import kernel
from peaksql.server.engine.kernels import first_greater, mix64

#: Most windows a listed (random, around-interval, N-filtered) plan may hold.
MAX_LISTED_WINDOWS = 200_000_000


def check_listed(num_windows: int) -> None:
    """Refuse a listed window set of more than ``MAX_LISTED_WINDOWS`` windows."""
    if num_windows > MAX_LISTED_WINDOWS:
        raise InvalidArgument(
            f"{num_windows} windows is more than the {MAX_LISTED_WINDOWS} a listed plan may hold"
        )


class WindowSet:
    """Windows of one plan; ``locate`` maps window indices to (region, start) arrays."""

    num_windows: int

    def locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def per_region_counts(self, num_regions: int) -> np.ndarray:
        raise NotImplementedError

    def _check(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_windows):
            bad = indices[(indices < 0) | (indices >= self.num_windows)][0]
            raise InvalidArgument(
                f"window index {int(bad)} is out of range: the dataset has "
                f"{self.num_windows} windows"
            )
        return indices


class StrideWindows(WindowSet):
    """Starts 0, stride, 2*stride, ... while start + seq_length <= length, per region."""

    def __init__(self, lengths: np.ndarray, seq_length: int, stride: int) -> None:
        lengths = np.asarray(lengths, dtype=np.int64)
        self.stride = stride
        self.counts = np.where(lengths >= seq_length, (lengths - seq_length) // stride + 1, 0)
        self.first = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self.num_windows = int(self.first[-1])

    def locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        indices = self._check(indices)
        region = np.searchsorted(self.first, indices, side="right") - 1
        return region, (indices - self.first[region]) * self.stride

    def per_region_counts(self, num_regions: int) -> np.ndarray:
        return self.counts


#: splitmix64's Weyl step (its finaliser is ``kernels.mix64``).
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def first_valid_positions(lengths: np.ndarray, seq_length: int) -> np.ndarray:
    """Cumulative counts of the starts where a window fits, region by region (R + 1,):
    region r owns valid positions ``[first[r], first[r + 1])``; InvalidArgument if none."""
    valid = np.maximum(np.asarray(lengths, dtype=np.int64) - seq_length + 1, 0)
    if int(valid.sum()) == 0:
        raise InvalidArgument(
            f"no region is at least seq_length={seq_length} bases long: nothing to sample"
        )
    return np.concatenate([[0], np.cumsum(valid)]).astype(np.int64)


class DrawnWindows(WindowSet):
    """``num_windows`` starts uniform over every valid position, computed when asked for.

    Window k is valid position ``splitmix64(key + (k + 1) * golden) mod total`` of the
    genome, counted region by region (numba): nothing of the size of the dataset is stored.
    (The modulo's bias is below total / 2**64, under 1e-6 for any genome.)
    """

    def __init__(self, lengths: np.ndarray, seq_length: int, num_windows: int, key: int) -> None:
        self.first = first_valid_positions(lengths, seq_length)
        self.total = int(self.first[-1])
        self.key = int(key)
        self.num_windows = int(num_windows)

    def locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        indices = self._check(indices)
        regions = np.empty(indices.shape[0], dtype=np.int64)
        starts = np.empty(indices.shape[0], dtype=np.int64)
        _draw(np.uint64(self.key), indices, self.first, regions, starts)
        return regions, starts

    def per_region_counts(self, num_regions: int) -> np.ndarray:
        counts = np.zeros(num_regions, dtype=np.int64)
        _count_draws(np.uint64(self.key), self.num_windows, self.first, counts)
        return counts


@kernel
def _draw_one(key: np.uint64, k: np.int64, first: np.ndarray) -> tuple[int, np.int64]:
    """(region, valid position) of draw k: ``mix64(key + (k + 1) * golden) mod total``."""
    draw = np.int64(mix64(key + np.uint64(k + 1) * _GOLDEN) % np.uint64(first[-1]))
    return first_greater(first, 0, first.shape[0], draw) - 1, draw


@kernel
def _draw(
    key: np.uint64, indices: np.ndarray, first: np.ndarray, regions: np.ndarray, starts: np.ndarray
) -> None:
    for i in range(indices.shape[0]):
        region, draw = _draw_one(key, indices[i], first)
        regions[i] = region
        starts[i] = draw - first[region]


@kernel
def _count_draws(key: np.uint64, num_windows: int, first: np.ndarray, counts: np.ndarray) -> None:
    for k in range(num_windows):
        counts[_draw_one(key, np.int64(k), first)[0]] += 1


class ListedWindows(WindowSet):
    """Windows given as arrays of region indices and starts."""

    def __init__(self, regions: np.ndarray, starts: np.ndarray) -> None:
        self.regions = np.ascontiguousarray(regions, dtype=np.int64)
        self.starts = np.ascontiguousarray(starts, dtype=np.int64)
        self.num_windows = int(self.regions.shape[0])

    def locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        indices = self._check(indices)
        return self.regions[indices], self.starts[indices]

    def per_region_counts(self, num_regions: int) -> np.ndarray:
        return np.bincount(self.regions, minlength=num_regions).astype(np.int64)

    @classmethod
    def from_window_set(cls, windows: WindowSet) -> ListedWindows:
        return cls(*windows.locate(np.arange(windows.num_windows, dtype=np.int64)))

    def subset(self, keep: np.ndarray) -> ListedWindows:
        return ListedWindows(self.regions[keep], self.starts[keep])
