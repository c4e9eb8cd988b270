"""Write one signal track: runs chunk by chunk -> raw arrays + prefix sums, staged then renamed.

``TrackWriter`` appends runs in assembly order (chromosome by chromosome, ascending, disjoint;
checked), keeping only running totals in memory, so a genome-scale bigWig streams through in
flat memory. ``commit_folder`` fsyncs the files and renames the staging folder into place;
the caller commits the ``signal_tracks`` row afterwards (``signal_store`` explains
visibility).

One track folder, ``<data_dir>/signals/<name>/`` (``n`` runs, raw little-endian, no header)::

    starts.bin         ends.bin           values.bin       cum_sum.bin          cum_len.bin
    ┌──────────────┐   ┌──────────────┐   ┌────────────┐   ┌────────────────┐   ┌──────────────┐
    │ int64 x n    │   │ int64 x n    │   │ float32 x n│   │ float64 x n+1  │   │ int64 x n+1  │
    │ offset+start │   │ offset+end   │   │ run value  │   │ [0] = 0        │   │ [0] = 0      │
    │ ascending,   │   │ > start,     │   │            │   │ [k] = Σ_{j<k}  │   │ [k] = Σ_{j<k}│
    │ disjoint     │   │ <= next start│   │            │   │  value_j*len_j │   │  len_j       │
    └──────────────┘   └──────────────┘   └────────────┘   └────────────────┘   └──────────────┘

    first.bin  int64 bucket index: first[b] = the first run ending after b << shift
    zoom.bin   float32 per cell of ZOOM_BASES bases, chromosome by chromosome from its
               position 0: the sum of value x overlap (a 32-bp mean is one read)

    meta.json  {"format": 1, "num_runs": n,
                "chromosomes": {"<index in assembly>": {"min", "max", "sum", "covered"}},
                "index": {"shift": s, "buckets": m},
                "zoom": {"bases": 32,
                         "chromosomes": {"<index>": [first cell, offset, cells]}}}

36 bytes a run on disk (50M runs: 1.8 GB), plus 4 bytes per 32 bases of chromosomes with
runs (hg38: at most 390 MB). ``offset`` is the chromosome's offset in the genome store, so
positions match ``Plan.region_store_offsets``. ``zoom`` is absent from tracks written
without the assembly's geometry (their bins are all computed from the runs).
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from pathlib import Path
from typing import BinaryIO

import numpy as np

from peaksql.core.errors import InvalidArgument
from peaksql.server.catalog.signal_store import (
    FILES,
    FORMAT_VERSION,
    INDEX_CHUNK,
    INDEX_FILE,
    STAGING_PREFIX,
    ZOOM_BASES,
    ZOOM_FILE,
    bucket_index_of_chunks,
    store_root,
)

#: (offsets, lengths) of an assembly's chromosomes, by index in the assembly.
Geometry = tuple[np.ndarray, np.ndarray]


def add_cell_sums(
    cells: np.ndarray, starts: np.ndarray, ends: np.ndarray, values: np.ndarray
) -> None:
    """Add value x overlap of runs ``[starts, ends)`` (chromosome positions) to the cells of
    ``ZOOM_BASES`` bases they cover (vectorised: a run's first and last cell, and a
    difference array for the whole cells between)."""
    size = ZOOM_BASES
    values = values.astype(np.float64)
    first, last = starts // size, (ends - 1) // size
    same = first == last
    head = np.where(same, ends, (first + 1) * size) - starts
    cells += np.bincount(first, values * head, minlength=cells.size)
    cells += np.bincount(last, np.where(same, 0.0, values * (ends - last * size)), cells.size)
    inner = last - first > 1
    if inner.any():
        whole = values[inner] * size
        diff = np.bincount(first[inner] + 1, whole, minlength=cells.size + 1)
        diff -= np.bincount(last[inner], whole, minlength=cells.size + 1)
        cells += np.cumsum(diff)[:-1]


class TrackWriter:
    """Appends a track's runs to a staging folder; ``finish`` renames it into place.

    With the assembly's ``geometry`` it also writes the zoom cells, one chromosome in memory
    at a time (chr1 at 32 bp: 62 MB).
    """

    def __init__(self, data_dir: Path, geometry: Geometry | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.name = uuid.uuid4().hex
        self.staging = store_root(data_dir) / f"{STAGING_PREFIX}{self.name}"
        self.staging.mkdir(parents=True)
        self._files: dict[str, BinaryIO] = {
            name: open(self.staging / f"{name}.bin", "wb")  # noqa: SIM115 (closed in finish/abort)
            for name in FILES
        }
        self._files["cum_sum"].write(np.zeros(1, "<f8").tobytes())
        self._files["cum_len"].write(np.zeros(1, "<i8").tobytes())
        self._sum = 0.0
        self._len = 0
        self._last_end = -1
        self.num_runs = 0
        self.stats: dict[int, dict[str, float]] = {}
        self._geometry = geometry
        if geometry is not None:
            self._files[ZOOM_FILE] = open(self.staging / f"{ZOOM_FILE}.bin", "wb")  # noqa: SIM115
        self._zoom: tuple[int, np.ndarray] | None = None  # (chromosome, its cells) being summed
        self._zoom_chromosomes: dict[str, list[int]] = {}
        self._num_cells = 0

    def append(self, chromosome: int, starts: np.ndarray, ends: np.ndarray, values) -> None:
        """Runs of one chromosome (index in the assembly), in assembly coordinates."""
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        values = np.asarray(values, dtype=np.float32)
        keep = ends > starts
        starts, ends, values = starts[keep], ends[keep], values[keep]
        if starts.size == 0:
            return
        if starts[0] < self._last_end or (starts[1:] < ends[:-1]).any():
            raise InvalidArgument("signal runs overlap or are not sorted by position")
        lengths = ends - starts
        weighted = values.astype(np.float64) * lengths
        cum_sum = self._sum + np.cumsum(weighted)
        cum_len = self._len + np.cumsum(lengths)
        for name, array in (("starts", starts), ("ends", ends), ("values", values)):
            self._files[name].write(array.astype(FILES[name], copy=False).tobytes())
        self._files["cum_sum"].write(cum_sum.astype("<f8", copy=False).tobytes())
        self._files["cum_len"].write(cum_len.astype("<i8", copy=False).tobytes())
        self._sum, self._len = float(cum_sum[-1]), int(cum_len[-1])
        self._last_end = int(ends[-1])
        self.num_runs += int(starts.size)
        self._add_stats(chromosome, values, float(weighted.sum()), int(lengths.sum()))
        if self._geometry is not None:
            self._add_zoom(chromosome, starts, ends, values)

    def _add_zoom(
        self, chromosome: int, starts: np.ndarray, ends: np.ndarray, values: np.ndarray
    ) -> None:
        assert self._geometry is not None
        offsets, lengths = self._geometry
        if self._zoom is None or self._zoom[0] != chromosome:
            self._flush_zoom()
            self._zoom = (chromosome, np.zeros(-(-int(lengths[chromosome]) // ZOOM_BASES)))
        offset = int(offsets[chromosome])
        add_cell_sums(self._zoom[1], starts - offset, ends - offset, values)

    def _flush_zoom(self) -> None:
        """Write the cells of the chromosome being summed."""
        if self._zoom is None or self._geometry is None:
            return
        chromosome, cells = self._zoom
        self._files[ZOOM_FILE].write(cells.astype("<f4").tobytes())
        offset = int(self._geometry[0][chromosome])
        self._zoom_chromosomes[str(chromosome)] = [self._num_cells, offset, int(cells.size)]
        self._num_cells += int(cells.size)
        self._zoom = None

    def _add_stats(self, chromosome: int, values: np.ndarray, total: float, covered: int) -> None:
        stats = self.stats.setdefault(
            chromosome, {"min": np.inf, "max": -np.inf, "sum": 0.0, "covered": 0}
        )
        stats["min"] = min(stats["min"], float(np.nanmin(values)))
        stats["max"] = max(stats["max"], float(np.nanmax(values)))
        stats["sum"] += total
        stats["covered"] += covered

    def finish(self) -> str:
        """fsync every file, write ``meta.json``, rename into place; the folder's name."""
        self._flush_zoom()
        for handle in self._files.values():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        meta = {
            "format": FORMAT_VERSION,
            "num_runs": self.num_runs,
            "chromosomes": {str(k): v for k, v in self.stats.items()},
        }
        if self._geometry is not None:
            meta["zoom"] = {"bases": ZOOM_BASES, "chromosomes": self._zoom_chromosomes}
        meta["index"] = self._write_index()
        with open(self.staging / "meta.json", "w") as meta_file:
            json.dump(meta, meta_file)
            meta_file.flush()
            os.fsync(meta_file.fileno())
        final = store_root(self.data_dir) / self.name
        os.rename(self.staging, final)
        descriptor = os.open(store_root(self.data_dir), os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        return self.name

    def _write_index(self) -> dict[str, int]:
        """``first.bin`` from the written ends (``signal_store.bucket_index``), fsynced."""
        with open(self.staging / "ends.bin", "rb") as written:
            chunks = (np.fromfile(written, FILES["ends"], INDEX_CHUNK) for _ in itertools.count())
            pieces = itertools.takewhile(lambda chunk: chunk.size > 0, chunks)
            first, shift = bucket_index_of_chunks(pieces, self.num_runs, self._last_end)
        with open(self.staging / f"{INDEX_FILE}.bin", "wb") as handle:
            handle.write(first.astype("<i8").tobytes())
            handle.flush()
            os.fsync(handle.fileno())
        return {"shift": shift, "buckets": int(first.size)}

    def abort(self) -> None:
        """Close and delete the staging folder (nothing became visible)."""
        for handle in self._files.values():
            handle.close()
        for path in self.staging.glob("*"):
            path.unlink()
        self.staging.rmdir()
