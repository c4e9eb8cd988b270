"""Keep message-sized buffers in the heap between batches (glibc's malloc, by ``mallopt``).

A batch message of megabytes, and the arrays a client decodes from it, are larger than
glibc's default mmap threshold, so every one maps fresh pages and every first touch of
them page-faults (about 380 faults per 512 KB message were measured on the server), then
unmaps them when freed. Raising the mmap threshold to glibc's largest (32 MB on 64-bit) and
the trim threshold above it makes freed buffers reusable by the next batch. The server
applies it at start; a ``Dataset`` applies it to the training process when it first streams
(measured on a 2-core machine: client CPU per window down a fifth, 8 x 32 signal windows
226-236k -> 273k windows/s). The cost is that up to ``TRIM_THRESHOLD_BYTES`` of freed memory
may stay with the process per arena rather than going back to the system.

A process whose environment already sets glibc's malloc thresholds (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, or ``glibc.malloc`` tunables) keeps them. Setting either one also
turns off glibc's own adjustment of the mmap threshold: with ``MALLOC_TRIM_THRESHOLD_=131072``
the 8 x 32 benchmark above fell to 55k windows/s, every batch faulted in afresh.
"""

from __future__ import annotations

import ctypes
import os
import sys
from functools import cache

#: ``mallopt`` parameters of glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Allocations below this come from the heap (glibc's maximum on 64-bit systems).
MMAP_THRESHOLD_BYTES = 32 << 20
#: Free memory kept at the top of a heap before it is returned to the system.
TRIM_THRESHOLD_BYTES = 64 << 20
#: Environment variables by which glibc takes malloc thresholds from the user.
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def user_sets_thresholds(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether the environment sets glibc's malloc thresholds itself (then they stay)."""
    tunables = environ.get("GLIBC_TUNABLES", "")
    return any(name in environ for name in USER_SETTINGS) or any(
        f"glibc.malloc.{name}" in tunables for name in ("mmap_threshold", "trim_threshold")
    )


@cache
def reuse_message_buffers() -> bool:
    """Apply the thresholds once per process; False where the C library is not glibc or the
    environment sets them (nothing changes)."""
    if not sys.platform.startswith("linux") or user_sets_thresholds():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
