"""The numba options of the engine's compiled kernels, set in this one place.

``@kernel`` compiles a function in nopython mode, releasing the GIL while it runs (batches
are built on worker threads), caching the machine code on disk next to the source, and
without bounds checks. A module with kernels imports ``kernel`` instead of calling
``numba.njit`` with its own options, so every kernel is compiled alike.
"""

from __future__ import annotations

import numba

kernel = numba.njit(nogil=True, cache=True, boundscheck=False)
