"""The windows of one epoch: what the epoch order permutes and the cursor counts.

    plan windows (N) --negatives (balanced / GC-matched)--> the epoch's subset (sorted)
                     --reverse_complement "both"--> two items per window

An epoch holds ``num_items`` items; item ``t`` is window ``subset[t // copies]`` (the plan's
own index), on the reverse strand when ``copies == 2`` and ``t`` is odd, or when
``"random"`` flips it. The order (``order.EpochOrder``: the Feistel bijection), the shards
and the cursor work on items exactly as they did on windows, so a per-epoch subset costs one
array per epoch and nothing per batch. The item count is the same in every epoch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from peaksql.server.engine import negatives
from peaksql.server.engine.augment import random_strands
from peaksql.server.engine.plan import Plan

#: Epoch lists kept per plan (a stream asks for its epoch once; neighbours share it).
_KEPT_EPOCHS = 4
_lock = threading.Lock()


@dataclass(frozen=True)
class EpochView:
    """One epoch of one plan: ``locate(items) -> (window indices, strands or None)``."""

    epoch: int
    num_windows: int  # windows of the epoch (before "both" doubles them)
    subset: np.ndarray | None  # sorted window indices; None: every window of the plan
    copies: int  # 2 under reverse_complement "both"
    strand_mode: str
    seed: int

    @property
    def num_items(self) -> int:
        return self.num_windows * self.copies

    def locate(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The plan's window index and strand (True: reverse) of each item."""
        items = np.asarray(items, dtype=np.int64)
        windows = items // self.copies if self.copies > 1 else items
        if self.subset is not None:
            windows = self.subset[windows]
        if self.strand_mode == "both":
            return windows, (items % 2).astype(bool)
        if self.strand_mode == "random":
            return windows, random_strands(self.seed, self.epoch, windows)
        return windows, None


def balanced(plan: Plan) -> bool:
    return plan.spec.negatives_per_positive is not None


def epoch_view(plan: Plan, epoch: int) -> EpochView:
    """The view of ``epoch`` (its subset drawn once and kept for the last few epochs)."""
    spec = plan.spec
    copies = 2 if spec.reverse_complement == "both" else 1
    subset = None
    if balanced(plan):
        with _lock:
            kept: dict[int, np.ndarray] = plan._training.setdefault("epochs", {})
            subset = kept.get(epoch)
        if subset is None:
            classes = negatives.classes_of(plan)
            chosen = negatives.epoch_negatives(plan, classes, epoch)
            subset = np.union1d(classes.positives, chosen)
            with _lock:
                kept[epoch] = subset
                for old in sorted(kept)[:-_KEPT_EPOCHS]:
                    del kept[old]
    size = plan.num_windows if subset is None else int(subset.size)
    return EpochView(epoch, size, subset, copies, spec.reverse_complement, spec.seed)


@dataclass(frozen=True)
class EpochSummary:
    """What Describe reports of every epoch: items, positives, negatives, GC match."""

    num_items: int
    positives: int
    negatives: int
    gc_difference: float | None


def epoch_summary(plan: Plan, count_classes: bool) -> EpochSummary:
    """Items per epoch, and (when balanced or asked) positive and negative items of it."""
    view = epoch_view(plan, 0)
    if not (balanced(plan) or count_classes):
        return EpochSummary(view.num_items, 0, 0, None)
    classes = negatives.classes_of(plan)
    positives = int(classes.positives.size)
    negative_windows = view.num_windows - positives
    return EpochSummary(
        view.num_items,
        positives * view.copies,
        negative_windows * view.copies,
        negatives.gc_difference(classes),
    )
