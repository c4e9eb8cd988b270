"""N filtering: drop the windows whose fraction of N bases passes ``max_n_fraction``.

Runs of N are found once per chromosome (``kernels.code_runs``) and cached while the genome
array lives; a window's N count is then a coverage query like any label.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from peaksql.core.spec import DatasetSpec
from peaksql.server.engine import kernels
from peaksql.server.engine.labels import Coverage
from peaksql.server.engine.windows import ListedWindows, WindowSet, check_listed

#: 4-bit code of N (all four bases possible).
_N_CODE = 0b1111

#: (id(genome), offset, length) -> (weak reference to that genome, run starts, run ends).
_n_runs_cache: dict[tuple[int, int, int], tuple[weakref.ref, np.ndarray, np.ndarray]] = {}
_n_runs_lock = threading.Lock()


def n_runs(genome: np.ndarray, offset: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Runs of N in one chromosome, cached while its genome array lives.

    An ``id`` alone is no key: once a genome is freed (an assembly removed and added again)
    a new array may get its address, so each entry keeps a weak reference that must still
    point at ``genome``; entries of freed genomes are dropped.
    """
    key = (id(genome), offset, length)
    with _n_runs_lock:
        cached = _n_runs_cache.get(key)
    if cached is not None and cached[0]() is genome:
        return cached[1], cached[2]
    run_starts, run_ends = kernels.code_runs(genome, offset, offset + length, _N_CODE)
    with _n_runs_lock:
        for dead in [k for k, (ref, *_) in _n_runs_cache.items() if ref() is None]:
            del _n_runs_cache[dead]
        _n_runs_cache[key] = (weakref.ref(genome), run_starts, run_ends)
    return run_starts, run_ends


def drop_n_windows(
    spec: DatasetSpec,
    windows: WindowSet,
    genomes: list[np.ndarray],
    store_offsets: np.ndarray,
    lengths: np.ndarray,
    bases: np.ndarray,
    max_n_fraction: float,
) -> ListedWindows:
    """Keep windows whose fraction of N bases is at most ``max_n_fraction``."""
    check_listed(windows.num_windows)
    listed = (
        windows if isinstance(windows, ListedWindows) else ListedWindows.from_window_set(windows)
    )
    run_starts, run_ends = [], []
    for k, genome in enumerate(genomes):
        s, e = n_runs(genome, int(store_offsets[k]), int(lengths[k]))
        run_starts.append(s + bases[k])
        run_ends.append(e + bases[k])
    n_cover = Coverage.build(
        1,
        np.zeros(sum(len(s) for s in run_starts), dtype=np.int64),
        np.concatenate(run_starts) if run_starts else np.zeros(0, np.int64),
        np.concatenate(run_ends) if run_ends else np.zeros(0, np.int64),
    )
    n_bases = n_cover.covered(bases[listed.regions] + listed.starts, spec.seq_length)[:, 0]
    # the fraction itself, as the spec words it (n <= f * L rounds the other way for some f)
    return listed.subset(n_bases / spec.seq_length <= max_n_fraction)
