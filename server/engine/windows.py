"""Window sets: index -> (region, start) for each sampling mode (DESIGN §4).

Stride windows are virtual (arithmetic and a binary search over cumulative counts), so a
genome tiled at stride 1 costs nothing to hold. Random, around-interval and N-filtered
windows are listed: two arrays of the size of the dataset.
"""

from __future__ import annotations

import numpy as np

from peaksql.core.errors import InvalidArgument


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
