"""Scratch space of an ingest: ``<data_dir>/tmp/ingest-*/``, swept when its owner is gone.

An ingest writes its staging files (the store file before it is published) only in a
folder of its own under ``<data_dir>/tmp/`` and holds an exclusive ``flock`` on the
folder's ``.lock`` file while it runs. The kernel drops the lock when the process ends,
however it ends (``kill -9`` included), so :func:`sweep` (run at the start of every ingest
and by ``peaksql migrate``) removes exactly the folders whose owner is dead, and never the
folder of an ingest running beside it. Nothing reads ``tmp/`` as data: store files are found
through the catalog only.

Also swept: staging files older versions left in ``genomes/`` (``.NAME.HEX.staging``,
``.NAME.u8.*.partial``) once they are an hour old.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from peaksql.core.errors import PeakSQLError

SCRATCH_FOLDER = "tmp"
_LOCK = ".lock"
_PREFIX = "ingest-"
#: Leftovers of older versions in genomes/ (their ingests held no lock: go by age).
_LEGACY = re.compile(r"^\..+\.([0-9a-f]{32}\.staging|u8\..+\.partial)$")
_LEGACY_AGE_SECONDS = 3600.0
#: A scratch folder without a lock file is one being created, or one cut off right then.
_UNLOCKED_AGE_SECONDS = 3600.0


class WriteError(PeakSQLError):
    """Writing an ingest's output failed (disk full, quota, I/O error): names input and cause."""

    def __init__(self, source: Path, target: Path, error: OSError) -> None:
        self.source, self.target, self.errno = str(source), str(target), error.errno
        cause = error.strerror or str(error)
        super().__init__(f"{source}: cannot write {target}: {cause}; nothing was stored")


@contextlib.contextmanager
def scratch_folder(data_dir: Path) -> Iterator[Path]:
    """A fresh folder under ``<data_dir>/tmp/`` owned by this ingest, removed afterwards."""
    root = Path(data_dir) / SCRATCH_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    sweep(data_dir)
    folder, lock = _claim(root)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        lock.close()


def sweep(data_dir: Path) -> list[Path]:
    """Remove scratch folders of dead ingests (and old legacy staging files); what went."""
    removed: list[Path] = []
    root = Path(data_dir) / SCRATCH_FOLDER
    if root.is_dir():
        for folder in root.iterdir():
            if folder.name.startswith(_PREFIX) and folder.is_dir() and _remove_if_orphan(folder):
                removed.append(folder)
    genomes = Path(data_dir) / "genomes"
    if genomes.is_dir():
        now = time.time()
        for path in genomes.iterdir():
            if _LEGACY.match(path.name) and now - _mtime(path) > _LEGACY_AGE_SECONDS:
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _claim(root: Path) -> tuple[Path, IO[bytes]]:
    """Create and lock a scratch folder; retried if a sweep took it before it was locked."""
    while True:
        folder = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=root))
        try:
            lock = open(folder / _LOCK, "xb")  # noqa: SIM115 - held until the ingest ends
        except FileNotFoundError:  # swept between mkdtemp and open
            continue
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            same = os.stat(folder / _LOCK).st_ino == os.fstat(lock.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return folder, lock
        lock.close()


def _remove_if_orphan(folder: Path) -> bool:
    """Remove ``folder`` if no live process holds its lock (taking the lock tells).

    The lock is held while the folder is removed, so an ingest that is just claiming it
    waits, then sees its lock file gone and claims another (see ``_claim``).
    """
    try:
        lock = open(folder / _LOCK, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        if time.time() - _mtime(folder) <= _UNLOCKED_AGE_SECONDS:
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True
    except OSError:
        return False
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # held: its ingest is running
        shutil.rmtree(folder, ignore_errors=True)
        return True


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()
