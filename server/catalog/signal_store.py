"""The signal store: per (condition, assembly, strand), sorted runs and their prefix sums.

Written at ingest by ``peaksql.server.ingest.signal_writer`` (its docstring draws the byte
layout); read here as memory maps. A track is a folder ``<data_dir>/signals/<name>/`` of raw
little-endian arrays described by its ``meta.json``; runs are in the assembly's coordinate
space (the chromosome's offset in the genome store plus the position on it), so a window's
assembly position (``region_store_offsets[region] + start``) is also its track position.

Visibility. The catalog's ``signal_tracks`` rows are the only tracks a reader opens: an
ingest writes a track under ``.staging-*``, fsyncs it, renames it into place and only then
commits its row; a removal commits the deletion of the rows first and deletes the folders
after. A folder with no committed row (a crash in between) is an orphan, swept by
``sweep_orphans`` at the next signal ingest or ``peaksql migrate``, only under an exclusive
``flock`` of ``signals/.lock`` while writers hold it shared, so an ingest in flight is never
swept (the protocol of the interval store).
"""

from __future__ import annotations

import json
import math
import shutil
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from peaksql.server.catalog import interval_store
from peaksql.server.catalog.folder_lock import folder_lock
from peaksql.server.catalog.schema import signal_tracks

STORE_DIR = "signals"
STAGING_PREFIX = ".staging-"
FORMAT_VERSION = 1
#: file -> dtype; ``cum_*`` hold one more entry than runs.
FILES: dict[str, str] = {
    "starts": "<i8",
    "ends": "<i8",
    "values": "<f4",
    "cum_sum": "<f8",
    "cum_len": "<i8",
}
#: Bases per zoom cell: ``zoom.bin`` holds float32 sums of value x overlap per cell,
#: chromosome by chromosome (optional: tracks written without geometry have none).
ZOOM_BASES = 32
ZOOM_FILE = "zoom"
#: ``first.bin``: the bucket index, int64 ``first[b]`` = the first run ending after
#: ``b << shift`` (``meta["index"]`` holds shift and buckets; written at ingest).
INDEX_FILE = "first"
#: Runs per bucket of the index: 8 bytes per 16-32 runs, under 1.5 % of the track's bytes.
RUNS_PER_BUCKET = 32


def index_shift(num_runs: int, span: int) -> int:
    """log2 of the bucket width giving between half and all of ``RUNS_PER_BUCKET`` runs a
    bucket on average."""
    if num_runs == 0 or span <= 0:
        return 0
    return max(0, math.floor(math.log2(span * RUNS_PER_BUCKET / num_runs)))


def bucket_index(ends: np.ndarray) -> tuple[np.ndarray, int]:
    """(first, shift) of runs ending at ``ends`` (sorted): ``first[b]`` = the first run
    ending after ``b << shift``, for every bucket up to the last run's end (positions past
    it have no run)."""
    n = int(ends.shape[0])
    return bucket_index_of_chunks(
        (ends[i : i + INDEX_CHUNK] for i in range(0, n, INDEX_CHUNK)),
        n,
        int(ends[-1]) if n else 0,
    )


#: Runs read at a time while the index is built (32 MB of ends).
INDEX_CHUNK = 1 << 22


def bucket_index_of_chunks(
    chunks: Iterable[np.ndarray], num_runs: int, last_end: int
) -> tuple[np.ndarray, int]:
    """``bucket_index`` over ends given in consecutive chunks (a file read piece by piece,
    memory flat): a bucket whose start lies in chunk c's span is answered by a sorted
    search of chunk c alone, every earlier run ending before it."""
    if num_runs == 0:
        return np.zeros(1, dtype=np.int64), 0
    shift = index_shift(num_runs, last_end)
    first = np.empty((last_end >> shift) + 1, dtype=np.int64)
    done = before = 0
    for chunk in chunks:
        stop = min(first.size, (int(chunk[-1]) >> shift) + 1)
        grid = np.arange(done, stop, dtype=np.int64) << shift
        first[done:stop] = before + np.searchsorted(chunk, grid, side="right")
        done, before = stop, before + int(chunk.size)
    return first, shift


def store_root(data_dir: Path) -> Path:
    """The folder of every signal track of the catalog whose data dir is ``data_dir``."""
    return Path(data_dir) / STORE_DIR


def data_dir_of(engine: sa.Engine, data_dir: Path | str | None = None) -> Path:
    """``data_dir`` if given, else the one bound to ``engine`` (one registry with the
    interval store: ``interval_store.bind_data_dir``), else an SQLite catalog's folder."""
    return interval_store.data_dir_of(engine, None if data_dir is None else Path(data_dir))


@dataclass(frozen=True)
class ChromosomeStats:
    """Values of one chromosome's runs: range, sum of value x length, bases with data."""

    minimum: float
    maximum: float
    total: float
    covered: int


class SignalTrack:
    """One track's arrays (memory maps) and per-chromosome statistics."""

    def __init__(self, path: Path) -> None:
        self.path = path
        meta = json.loads((path / "meta.json").read_text())
        self.num_runs = int(meta["num_runs"])
        self.stats = {
            int(index): ChromosomeStats(s["min"], s["max"], s["sum"], int(s["covered"]))
            for index, s in meta["chromosomes"].items()
        }
        sizes = {name: self.num_runs + (name.startswith("cum_")) for name in FILES}
        self.arrays = {name: _map(path / f"{name}.bin", FILES[name], sizes[name]) for name in FILES}
        zoom = meta.get("zoom") if meta.get("zoom", {}).get("bases") == ZOOM_BASES else None
        #: chromosome index -> (first cell, chromosome offset, cells) in ``zoom``
        self.zoom_chromosomes: dict[int, tuple[int, int, int]] = {
            int(index): (int(a), int(b), int(c))
            for index, (a, b, c) in (zoom or {}).get("chromosomes", {}).items()
        }
        cells = sum(c for _, _, c in self.zoom_chromosomes.values())
        self.zoom = _map(path / f"{ZOOM_FILE}.bin", "<f4", cells)
        index = meta.get("index")  # absent from tracks written before it was stored
        self.index: tuple[np.ndarray, int] | None = None
        if index is not None:
            first = _map(path / f"{INDEX_FILE}.bin", "<i8", int(index["buckets"]))
            self.index = first, int(index["shift"])

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    def summary(self, chromosome_indices: list[int]) -> tuple[float, float, float] | None:
        """(min, max, mean over bases with data) over the given chromosomes; None if empty."""
        chosen = [self.stats[i] for i in chromosome_indices if i in self.stats]
        covered = sum(s.covered for s in chosen)
        if not covered:
            return None
        return (
            min(s.minimum for s in chosen),
            max(s.maximum for s in chosen),
            sum(s.total for s in chosen) / covered,
        )


def _map(path: Path, dtype: str, size: int) -> np.ndarray:
    if size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(size,))


_TRACKS: dict[Path, SignalTrack] = {}
_TRACKS_LOCK = threading.Lock()


def open_track(data_dir: Path, name: str) -> SignalTrack:
    """The track folder ``name`` (cached: tracks are immutable, names never reused)."""
    path = store_root(data_dir) / name
    with _TRACKS_LOCK:
        track = _TRACKS.get(path)
        if track is None:
            track = _TRACKS[path] = SignalTrack(path)
        return track


def store_lock(data_dir: Path, exclusive: bool) -> AbstractContextManager[bool]:
    """Hold ``signals/.lock`` (``folder_lock``): shared while writing tracks, exclusive
    (without waiting; yields whether it got it) to sweep orphans."""
    return folder_lock(store_root(data_dir), exclusive)


def delete_tracks(data_dir: Path, names: list[str]) -> None:
    """Delete track folders (after their rows are gone, or when their commit failed)."""
    for name in names:
        with _TRACKS_LOCK:
            _TRACKS.pop(store_root(data_dir) / name, None)
        shutil.rmtree(store_root(data_dir) / name, ignore_errors=True)


def sweep_orphans(engine: sa.Engine, data_dir: Path) -> list[str]:
    """Delete folders with no committed ``signal_tracks`` row (staging ones included), unless
    another writer is at work (it holds the lock shared); returns what was deleted."""
    root = store_root(data_dir)
    if not root.is_dir():
        return []
    with store_lock(data_dir, exclusive=True) as alone:
        if not alone:
            return []
        with engine.connect() as connection:
            known = set(connection.scalars(sa.select(signal_tracks.c.path)))
        orphans = [p.name for p in root.iterdir() if p.is_dir() and p.name not in known]
        delete_tracks(data_dir, orphans)
    return sorted(orphans)
