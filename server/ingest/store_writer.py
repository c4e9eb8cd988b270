"""Write one part of the interval store: a file's intervals -> sorted columnar ``.npy`` files.

``PartBuilder`` collects a file's chunks (column arrays, no Python objects per interval but
the text columns' distinct values), then ``write`` sorts them by (start, end) in assembly
coordinates and writes them under a staging name, fsyncs, and renames the folder into place.
The caller commits the ``parts`` row afterwards (``interval_store`` explains visibility).

One part folder, ``<data_dir>/intervals/<part-name>/`` (every array of ``n`` rows)::

    start.npy          end.npy            chrom.npy        p_value.npy ...   summit.npy
    ┌──────────────┐   ┌──────────────┐   ┌──────────┐     ┌──────────┐      ┌──────────┐
    │ .npy header  │   │ .npy header  │   │ header   │     │ header   │      │ header   │
    ├──────────────┤   ├──────────────┤   ├──────────┤     ├──────────┤      ├──────────┤
    │ int64 LE x n │   │ int64 LE x n │   │ int32 x n│     │ f8 x n   │      │ int64 x n│
    │ offset+start │   │ offset+end   │   │ chrom idx│     │ NaN=NULL │      │ -1=NULL  │
    │ ascending    │   │              │   │          │     │          │      │          │
    └──────────────┘   └──────────────┘   └──────────┘     └──────────┘      └──────────┘

    name.codes.npy     name.table.npy                 meta.json
    ┌──────────────┐   ┌────────────────────────┐     {"format": 1,
    │ header       │   │ header                 │      "num_intervals": n,
    ├──────────────┤   ├────────────────────────┤      "columns": ["name", "p_value", ...]}
    │ int32 x n    │──►│ <U w x d (sorted texts)│
    │ -1 = NULL    │   │ UTF-32 LE, zero padded │
    └──────────────┘   └────────────────────────┘

The ``.npy`` header is numpy's (magic ``\\x93NUMPY``, version, a dict of dtype, order and
shape, padded to 64 bytes), so ``np.load(..., mmap_mode='r')`` maps each array in place.
Memory while writing: the part's columns (about 60 bytes an interval) plus one chunk.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np

from peaksql.server.catalog.interval_store import (
    FLOAT_FIELDS,
    FORMAT_VERSION,
    INTEGER_FIELDS,
    NO_INTEGER,
    STAGING_PREFIX,
    TEXT_FIELDS,
    store_root,
)
from peaksql.server.ingest.reader import IntervalChunk


class PartBuilder:
    """Columns of one part, chunk by chunk; ``write`` makes the part's folder."""

    def __init__(self) -> None:
        self._numbers: dict[str, list[np.ndarray]] = {"start": [], "end": [], "chrom": []}
        self._texts: dict[str, list[list[str | None]]] = {f: [] for f in TEXT_FIELDS}
        self._present: set[str] = set()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, chunk: IntervalChunk, chrom_index: np.ndarray, offsets: np.ndarray) -> None:
        """Add a chunk whose rows lie on chromosomes ``chrom_index`` (positions in the
        assembly), ``offsets`` being each chromosome's offset in the genome store."""
        base = offsets[chrom_index]
        self._numbers["start"].append(base + chunk.start)
        self._numbers["end"].append(base + chunk.end)
        self._numbers["chrom"].append(chrom_index.astype(np.int32))
        for field in (*FLOAT_FIELDS, *INTEGER_FIELDS, *TEXT_FIELDS):
            values = getattr(chunk, field)
            if values is not None:
                self._present.add(field)
        self._add_optional(chunk, len(chunk))
        self._count += len(chunk)

    def add_columns(self, columns: dict[str, object], num: int) -> None:
        """Add rows given as columns (``start``/``end`` already in assembly coordinates,
        ``chrom``, optional fields as in ``IntervalChunk``): the legacy-row migration."""
        for key in ("start", "end", "chrom"):
            self._numbers[key].append(np.asarray(columns[key]))
        for field in (*FLOAT_FIELDS, *INTEGER_FIELDS, *TEXT_FIELDS):
            if columns.get(field) is not None:
                self._present.add(field)
        self._add_optional(_Columns(columns), num)
        self._count += num

    def _add_optional(self, source: object, num: int) -> None:
        for field in (*FLOAT_FIELDS, *INTEGER_FIELDS):
            values = getattr(source, field, None)
            fill = np.nan if field in FLOAT_FIELDS else NO_INTEGER
            dtype = np.float64 if field in FLOAT_FIELDS else np.int64
            array = np.full(num, fill, dtype) if values is None else np.asarray(values, dtype)
            self._numbers.setdefault(field, []).append(array)
        for field in TEXT_FIELDS:
            values = getattr(source, field, None)
            self._texts[field].append([None] * num if values is None else list(values))

    def write(self, data_dir: Path) -> str:
        """Sort, write under a staging name, fsync, rename into place; returns the part name."""
        root = store_root(data_dir)
        root.mkdir(parents=True, exist_ok=True)
        name = f"p-{uuid.uuid4().hex}"
        staging = root / f"{STAGING_PREFIX}{name}"
        staging.mkdir()
        arrays = self._sorted_arrays()
        for file, array in arrays.items():
            _write_npy(staging / f"{file}.npy", array)
        meta = {
            "format": FORMAT_VERSION,
            "num_intervals": self._count,
            "columns": sorted(self._present),
        }
        _write_bytes(staging / "meta.json", json.dumps(meta).encode())
        _fsync_dir(staging)
        os.rename(staging, root / name)
        _fsync_dir(root)
        return name

    def _sorted_arrays(self) -> dict[str, np.ndarray]:
        columns = {k: _concat(v) for k, v in self._numbers.items()}
        order = np.lexsort((columns["end"], columns["start"]))
        out: dict[str, np.ndarray] = {}
        for key in ("start", "end", "chrom"):
            out[key] = np.ascontiguousarray(columns[key][order])
        for field in (*FLOAT_FIELDS, *INTEGER_FIELDS):
            if field in self._present:
                out[field] = np.ascontiguousarray(columns[field][order])
        for field in TEXT_FIELDS:
            if field in self._present:
                codes, table = _encode([t for part in self._texts[field] for t in part])
                out[f"{field}.codes"] = codes[order]
                out[f"{field}.table"] = table
        return out


class _Columns:
    """Attribute access over a dict of columns (missing -> None)."""

    def __init__(self, columns: dict[str, object]) -> None:
        self._columns = columns

    def __getattr__(self, name: str) -> object:
        return self._columns.get(name)


def _concat(chunks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)


def _encode(texts: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Texts -> (int32 codes, -1 for None; the sorted distinct texts as a ``<U`` array)."""
    present = [t for t in texts if t is not None]
    table = sorted(set(present))
    index = {text: code for code, text in enumerate(table)}
    codes = np.fromiter(
        (index[t] if t is not None else -1 for t in texts), dtype=np.int32, count=len(texts)
    )
    return codes, np.array(table, dtype=str) if table else np.zeros(0, dtype="<U1")


def _write_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
