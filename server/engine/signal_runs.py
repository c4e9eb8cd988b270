"""A plan's signal tracks as the kernels take them: ``Runs`` and the typed-list arguments.

``Runs`` is one track's arrays (memory maps of ``signal_store``, or runs painted from peak
intervals) with its bucket index (``signal_store.bucket_index``): a stored track's is a
memory map written at ingest, shared by every plan and every server process.
``kernel_tracks`` lays a plan's tracks out as ``signal_kernels.aggregate_columns`` takes
them: one typed list of array tuples, every array a read-only contiguous view of one dtype
(numba types a list by its first entry).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from peaksql.server.catalog.signal_store import ZOOM_BASES, SignalTrack, bucket_index


@dataclass
class Runs:
    """Arrays of one track (memory maps of the store, or runs built from intervals), its
    bucket index (``signal_store.bucket_index``: ``first``, ``shift``) and, for stored
    tracks with them, its zoom cells (``signal_store.ZOOM_BASES``-bp sums) and where each
    chromosome's cells begin (``zoom_chromosomes``: offset -> (first cell, cells))."""

    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray
    cum_sum: np.ndarray
    cum_len: np.ndarray
    first: np.ndarray
    shift: int
    zoom: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    zoom_chromosomes: dict[int, tuple[int, int]] = field(default_factory=dict)

    def zoom_regions(self, offsets: np.ndarray, on_assembly: np.ndarray) -> np.ndarray:
        """(R, 3) int64 per plan region: (first cell of the region's chromosome, chromosome
        offset, cells), or first cell -1 where the region has no zoom cells here (another
        assembly, or a track without zoom). A region lies in the chromosome whose offset is
        the largest at or below the region's store offset."""
        out = np.full((offsets.shape[0], 3), -1, dtype=np.int64)
        if not self.zoom_chromosomes:
            return out
        starts = np.array(sorted(self.zoom_chromosomes), dtype=np.int64)
        found = np.searchsorted(starts, offsets, side="right") - 1
        for r in np.flatnonzero(on_assembly & (found >= 0)):
            offset = int(starts[found[r]])
            first, cells = self.zoom_chromosomes[offset]
            if offsets[r] < offset + cells * ZOOM_BASES:
                out[r] = (first, offset, cells)
        return out

    @classmethod
    def of(cls, starts: np.ndarray, ends: np.ndarray, values: np.ndarray) -> Runs:
        """Runs with their prefix sums and index (peak conditions served as signal)."""
        lengths = ends - starts
        cum_sum = np.concatenate([[0.0], np.cumsum(values.astype(np.float64) * lengths)])
        cum_len = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        starts, ends = starts.astype(np.int64), ends.astype(np.int64)
        return cls(starts, ends, values.astype(np.float32), cum_sum, cum_len, *bucket_index(ends))

    @classmethod
    def of_track(cls, track: SignalTrack) -> Runs:
        """A stored track's memory maps, its index among them (``first.bin``); a track
        written before the index was stored gets one built once per process."""
        found = track.index
        if found is None:
            with _INDEXES_LOCK:
                found = _INDEXES.get(track)
            if found is None:
                found = bucket_index(track.ends)
                with _INDEXES_LOCK:
                    _INDEXES[track] = found
        zoom = {offset: (first, cells) for first, offset, cells in track.zoom_chromosomes.values()}
        arrays = (track.starts, track.ends, track.values, track.cum_sum, track.cum_len)
        return cls(*arrays, *found, zoom=track.zoom, zoom_chromosomes=zoom)


#: Bucket index per open store track without ``first.bin`` (dropped with the track).
_INDEXES: weakref.WeakKeyDictionary[SignalTrack, tuple[np.ndarray, int]] = (
    weakref.WeakKeyDictionary()
)
_INDEXES_LOCK = threading.Lock()


#: Kernel argument types per array of a track (every list entry must be of one type).
_KERNEL_DTYPES = (np.int64, np.int64, np.float32, np.float64, np.int64, np.int64)
#: A track with no runs (a column present on an assembly with no data there).
NO_RUNS = Runs.of(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))


def _kernel_array(array: np.ndarray, dtype: type) -> np.ndarray:
    """A read-only, contiguous ndarray view (memory maps stay maps; one numba type)."""
    view: np.ndarray = np.ascontiguousarray(np.asarray(array, dtype=dtype)).view()
    view.flags.writeable = False
    return view


def kernel_tracks(
    tracks: list[dict[int, Runs]],
    num_assemblies: int,
    region_offsets: np.ndarray,
    region_assembly: np.ndarray,
) -> tuple[Any, np.ndarray]:
    """``aggregate_columns``'s track arguments: a typed list of (starts, ends, values,
    cum_sum, cum_len, first, shift, zoom, zoom regions) indexed by track
    ``c * num_assemblies + a``, and whether column c has a track on assembly a. Regions are
    the plan's (their store offsets and assemblies)."""
    found = numba.typed.List()
    present = np.zeros(len(tracks) * num_assemblies, dtype=np.bool_)
    for c, by_assembly in enumerate(tracks):
        for a in range(num_assemblies):
            runs = by_assembly.get(a)
            present[c * num_assemblies + a] = runs is not None
            runs = runs or NO_RUNS
            arrays = (runs.starts, runs.ends, runs.values, runs.cum_sum, runs.cum_len, runs.first)
            views = (_kernel_array(x, t) for x, t in zip(arrays, _KERNEL_DTYPES, strict=True))
            regions = runs.zoom_regions(region_offsets, region_assembly == a)
            zoom = _kernel_array(runs.zoom, np.float32)
            found.append((*views, np.int64(runs.shift), zoom, regions))
    return found, present
