"""Keep message-sized buffers in the heap between batches (glibc's malloc, by ``mallopt``).

A batch message of hundreds of KB (an Enformer-sized window, a batch of float32 signal
labels) is larger than glibc's default mmap threshold, so every build maps fresh pages and
every first touch of them page-faults (about 380 faults per 512 KB message were measured on
the development machine), then unmaps them when the message is freed. Raising the mmap
threshold to glibc's largest (32 MB on 64-bit) and the trim threshold above it makes freed
buffers reusable by the next batch. The cost is that up to ``TRIM_THRESHOLD_BYTES`` of freed
memory may stay with the process per arena rather than going back to the system.
"""

from __future__ import annotations

import ctypes
import sys

#: ``mallopt`` parameters of glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Allocations below this come from the heap (glibc's maximum on 64-bit systems).
MMAP_THRESHOLD_BYTES = 32 << 20
#: Free memory kept at the top of a heap before it is returned to the system.
TRIM_THRESHOLD_BYTES = 64 << 20


def reuse_message_buffers() -> bool:
    """Apply the thresholds; False where the C library is not glibc (nothing changes)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
