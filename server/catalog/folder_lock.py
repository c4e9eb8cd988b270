"""The writers' lock of a store folder (interval parts, signal tracks): ``flock`` of its
``.lock`` file, shared while writing, exclusive to sweep orphans.

An exclusive request does not wait: it yields whether it got the lock and, when it did not
(another writer is at work), holds the lock shared instead, so the caller can go on writing
without sweeping. The kernel releases the lock when a process dies, even by SIGKILL.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".lock"


@contextmanager
def folder_lock(root: Path, exclusive: bool = False) -> Iterator[bool]:
    """Hold ``root/.lock`` (``root`` made if missing); yields whether it is exclusive."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_FILE, "a+b") as handle:
        got = False
        if exclusive:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                got = True
            except BlockingIOError:
                pass
        if not got:
            fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            yield got
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
