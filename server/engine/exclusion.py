"""Exclusion regions: no window of a plan overlaps the intervals of ``spec.exclude``.

    exclude=[condition, …] --their parts (interval store)--> one merged coverage column
        (plan coordinates)
        --covered(window)--> allowed when covered / seq_length <= exclude_fraction

The excluded conditions' parts are read like label parts (``store_rows``), on the plan's
regions, whatever the constraint's
interval terms say (a blacklist is a blacklist), and they are never label columns. Every
sampling's windows pass ``drop_excluded``; ``random`` draws only from allowed positions
(``samplings.random_positions`` asks ``allowed``), so ``random=N`` still gives N windows.
Whether a window overlaps is a ``CoverageQueries.covered`` question, not the coverage's
internals, so another coverage implementation serves it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peaksql.core.label_modes import CoverageQueries
from peaksql.server.engine.labels import Coverage
from peaksql.server.engine.store_rows import Selected
from peaksql.server.engine.windows import ListedWindows, WindowSet, check_listed


@dataclass(frozen=True)
class Exclusion:
    """The excluded intervals of one plan and the fraction of a window they may cover."""

    coverage: CoverageQueries  # one column, plan coordinates
    region_bases: np.ndarray  # int64 (R,): region start in plan coordinates
    seq_length: int
    fraction: float

    def allowed(self, regions: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Whether each window ``(region, start)`` is allowed, bool (B,)."""
        plan_starts = np.ascontiguousarray(self.region_bases[regions] + starts, dtype=np.int64)
        covered = self.coverage.covered(plan_starts, self.seq_length)[:, 0]
        if self.fraction == 0.0:
            return covered == 0
        return covered / self.seq_length <= self.fraction


def load_exclusion(
    selected: Selected | None,
    region_bases: np.ndarray,
    seq_length: int,
    fraction: float,
) -> Exclusion | None:
    """The exclusion of a plan from the excluded conditions' intervals on its regions
    (``store_rows.select_intervals`` with no terms; None without excluded conditions)."""
    if selected is None:
        return None
    bases = np.asarray(region_bases, dtype=np.int64)
    region = selected.region
    coverage = Coverage.build(
        1,
        np.zeros(region.size, dtype=np.int64),
        bases[region] + selected.start,
        bases[region] + selected.end,
    )
    return Exclusion(coverage, bases, seq_length, fraction)


def drop_excluded(windows: WindowSet, exclusion: Exclusion | None) -> WindowSet:
    """The windows that ``exclusion`` allows (all of them, unchanged, without one)."""
    if exclusion is None:
        return windows
    check_listed(windows.num_windows)
    listed = (
        windows if isinstance(windows, ListedWindows) else ListedWindows.from_window_set(windows)
    )
    keep = np.ones(listed.num_windows, dtype=bool)
    chunk = 1 << 20
    for begin in range(0, listed.num_windows, chunk):
        end = min(begin + chunk, listed.num_windows)
        keep[begin:end] = exclusion.allowed(listed.regions[begin:end], listed.starts[begin:end])
    return listed.subset(keep)
