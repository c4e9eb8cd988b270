"""The interval store: per (condition, assembly) part, columnar ``.npy`` files read as memmaps.

Written at ingest by ``peaksql.server.ingest.store_writer`` (its docstring draws the byte
layout); read here. A part is a directory ``<data_dir>/intervals/<part-name>/`` holding one
``.npy`` file per column, every array of length ``n`` (the part's interval count), rows
sorted by ``start`` (then ``end``) in the assembly's coordinate space (the chromosome's
offset in the genome store plus the start on the chromosome):

============  ==========  =================================================================
file          dtype       meaning (NULL representation)
============  ==========  =================================================================
start.npy     int64       chromosome offset + start (never NULL)
end.npy       int64       chromosome offset + end (never NULL)
chrom.npy     int32       index of the chromosome in the assembly (chromosome id order)
<float>.npy   float64     score, signal_value, p_value, q_value, value: NaN is NULL
summit.npy    int64       offset of the peak from start: -1 is NULL
<text>.codes  int32       name, strand: index into ``<text>.table.npy``; -1 is NULL
<text>.table  <U (n_d,)   the distinct texts, sorted by code point
meta.json     JSON        {"format": 1, "num_intervals": n, "columns": [present columns]}
============  ==========  =================================================================

A column the file's format lacks has no file: every value is NULL. Parts are immutable and
their names are never reused, so a reader may cache a part by its name.

Visibility. The catalog's ``parts`` rows are the only parts a reader opens: an ingest writes
a part under ``.staging-*``, fsyncs it, renames it into place and only then commits its row;
a removal commits the deletion of the rows first and deletes the directories after. A
directory with no committed row (a crash in between) is an orphan, swept by ``sweep`` at the
next ingest or ``peaksql migrate``; the sweep runs only under an exclusive ``flock`` of
``intervals/.lock`` while writers hold it shared, so an ingest in flight is never swept.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import weakref
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from peaksql.core.errors import InvalidArgument
from peaksql.server.catalog.columns import BY_NAME, OPTIONAL_FIELDS
from peaksql.server.catalog.folder_lock import LOCK_FILE, folder_lock

STORE_DIR = "intervals"
STAGING_PREFIX = ".staging-"
FORMAT_VERSION = 1
#: Stored text columns: dictionary-encoded (codes + table).
TEXT_FIELDS: tuple[str, ...] = tuple(f for f in OPTIONAL_FIELDS if BY_NAME[f].kind == "text")
#: Stored float columns (NaN is NULL).
FLOAT_FIELDS: tuple[str, ...] = tuple(f for f in OPTIONAL_FIELDS if BY_NAME[f].kind == "float")
#: Stored integer columns (-1 is NULL).
INTEGER_FIELDS: tuple[str, ...] = tuple(f for f in OPTIONAL_FIELDS if BY_NAME[f].kind == "integer")
NO_INTEGER = -1


def store_root(data_dir: Path) -> Path:
    """The folder of every part of the catalog whose data dir is ``data_dir``."""
    return Path(data_dir) / STORE_DIR


def _load(path: Path) -> np.ndarray:
    """A read-only memmap of one ``.npy`` file (a plain array when it holds nothing)."""
    try:
        return np.load(path, mmap_mode="r")
    except ValueError:  # mmap cannot map zero bytes
        array = np.load(path)
        array.flags.writeable = False
        return array


@dataclass(frozen=True)
class TextColumn:
    """A dictionary-encoded text column: ``table[codes]``, code -1 for NULL."""

    codes: np.ndarray
    table: np.ndarray


class Part:
    """One part's columns, memory-mapped on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        meta = json.loads((path / "meta.json").read_text())
        self.num_intervals = int(meta["num_intervals"])
        self.present = frozenset(meta["columns"])
        self._arrays: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def array(self, file: str) -> np.ndarray:
        """The array of ``<file>.npy`` (cached memmap)."""
        with self._lock:
            found = self._arrays.get(file)
            if found is None:
                found = self._arrays[file] = _load(self.path / f"{file}.npy")
            return found

    @property
    def start(self) -> np.ndarray:
        return self.array("start")

    @property
    def end(self) -> np.ndarray:
        return self.array("end")

    @property
    def chrom(self) -> np.ndarray:
        return self.array("chrom")

    def numeric(self, field: str) -> np.ndarray | None:
        """A stored float or integer column, None when the part lacks it (all NULL)."""
        return self.array(field) if field in self.present else None

    def text(self, field: str) -> TextColumn | None:
        """A stored text column, None when the part lacks it (all NULL)."""
        if field not in self.present:
            return None
        return TextColumn(self.array(f"{field}.codes"), self.array(f"{field}.table"))


class IntervalStore:
    """Parts under ``<data_dir>/intervals``, opened once per process and shared."""

    def __init__(self, data_dir: Path) -> None:
        self.root = store_root(data_dir)
        self._parts: dict[str, Part] = {}
        self._lock = threading.Lock()

    def part(self, name: str) -> Part:
        """The part called ``name`` (a committed ``parts.path``)."""
        with self._lock:
            found = self._parts.get(name)
        if found is None:
            path = self.root / name
            if not (path / "meta.json").is_file():
                raise FileNotFoundError(
                    f"interval store part {path} is missing: is --data-dir right?"
                )
            found = Part(path)
            with self._lock:
                self._parts[name] = found
        return found

    def forget(self, names: set[str]) -> None:
        """Drop cached parts no longer in the catalog (their maps close when unused)."""
        with self._lock:
            for name in [n for n in self._parts if n not in names]:
                del self._parts[name]


# --- writers' lock and the orphan sweep ------------------------------------------------------


def writer_lock(data_dir: Path, exclusive: bool = False) -> AbstractContextManager[bool]:
    """Hold ``intervals/.lock`` (``folder_lock``): shared while writing parts, exclusive
    (without waiting; yields whether it got it) to sweep orphans."""
    return folder_lock(store_root(data_dir), exclusive)


def sweep(connection: sa.Connection, data_dir: Path) -> list[str]:
    """Delete staging folders and parts no committed ``parts`` row names; returns them.

    Call with ``writer_lock(data_dir, exclusive=True)`` held (and got).
    """
    from peaksql.server.catalog.schema import parts

    root = store_root(data_dir)
    if not root.is_dir():
        return []
    committed = set(connection.scalars(sa.select(parts.c.path)))
    removed = []
    for entry in os.scandir(root):
        if entry.name == LOCK_FILE or entry.name in committed:
            continue
        removed.append(entry.name)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            os.unlink(entry.path)
    return sorted(removed)


def delete_parts(data_dir: Path, names: list[str]) -> None:
    """Delete the folders of parts whose rows were deleted (after that commit)."""
    root = store_root(data_dir)
    for name in names:
        shutil.rmtree(root / name, ignore_errors=True)


# --- which data dir a catalog's store lives in -----------------------------------------------

_DATA_DIRS: weakref.WeakKeyDictionary[sa.Engine, Path] = weakref.WeakKeyDictionary()


def bind_data_dir(engine: sa.Engine, data_dir: Path) -> None:
    """Record that ``engine``'s catalog keeps its store under ``data_dir`` (set by
    ``open_database(..., data_dir=...)`` and by ``add_assembly``)."""
    _DATA_DIRS[engine] = Path(data_dir)


def data_dir_of(engine: sa.Engine, data_dir: Path | None = None) -> Path:
    """The data dir of ``engine``'s store: ``data_dir`` if given, else the bound one, else an
    SQLite catalog's own folder (where ``peaksql`` puts it by default)."""
    if data_dir is not None:
        return Path(data_dir)
    bound = _DATA_DIRS.get(engine)
    if bound is not None:
        return bound
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        return Path(str(engine.url.database)).resolve().parent
    raise InvalidArgument(
        "the interval store needs the data dir: open the catalog with "
        "open_database(db, data_dir=...) or pass data_dir"
    )
