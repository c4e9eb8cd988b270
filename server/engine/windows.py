"""Window sets: index -> (region, start), whatever sampling made them (see ARCHITECTURE.md).

Stride windows are virtual (arithmetic and a binary search over cumulative counts), so a
genome tiled at stride 1 costs nothing to hold. Random, around-interval and N-filtered
windows are listed: two arrays of the size of the dataset. The samplings themselves live in
``peaksql.server.engine.samplings``, one module each.
"""

from __future__ import annotations

import numpy as np

from peaksql.core.errors import InvalidArgument

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
