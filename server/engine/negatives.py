"""Balanced and GC-matched negatives: which windows of a plan one epoch holds.

    plan windows --labels once--> positives P, negatives Q (a window is positive when any
    label is: any base for per-base labels)
    epoch e: every positive + k = floor(r·|P|) negatives (all of Q if it has fewer)

- **Balanced** (``negatives_per_positive=r``): the negatives are the first ``k`` of Q in the
  order of a seeded Feistel bijection of ``[0, |Q|)`` (``order.EpochOrder``) keyed by
  (spec seed, epoch): without replacement, a fresh draw per epoch, O(k) to compute.
- **GC-matched** (``gc_matched``): each window's GC bin (``gc``), then per bin the target
  ``r·|P_b|`` (rounded by largest remainders so the targets sum to k); Q is walked in the
  epoch's Feistel order and a negative is taken while its bin is short. A bin with too few
  negatives gives what it has, so the histogram difference Describe reports is the achieved
  one; the counts per bin, and so the epoch's size and that difference, are the same in
  every epoch (only which negatives changes).

The epoch's list (sorted window indices) is what the epoch order permutes and the cursor
counts: ``epochs.EpochView``. Which windows are positive is decided on the plan's windows
before any shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peaksql.core.training import GC_BINS
from peaksql.server.engine import gc
from peaksql.server.engine.jit import kernel
from peaksql.server.engine.labels import labels_of
from peaksql.server.engine.order import EpochOrder
from peaksql.server.engine.plan import Plan

#: Salt of the negatives' bijection, so it differs from the epoch order of the same seed.
_SALT = 0x6E65676174697665
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Classes:
    """Positive and negative windows of a plan, and (under gc_matched) their GC bins."""

    positives: np.ndarray  # int64 window indices, sorted
    negatives: np.ndarray  # int64 window indices, sorted
    positive_bins: np.ndarray | None = None
    negative_bins: np.ndarray | None = None
    targets: np.ndarray | None = None  # negatives per GC bin


def positive_mask(plan: Plan, chunk: int = 1 << 18) -> np.ndarray:
    """Whether each window of the plan has a positive label, bool (N,)."""
    out = np.zeros(plan.num_windows, dtype=bool)
    positional = len(plan.label_shape) > 1
    for begin in range(0, plan.num_windows, chunk):
        indices = np.arange(begin, min(begin + chunk, plan.num_windows), dtype=np.int64)
        regions, starts = plan.windows.locate(indices)
        inner = np.ascontiguousarray(plan.region_bases[regions] + starts + plan.inner_offset)
        if positional:  # positive when any base is: a coverage question, no (B, C, L) mask
            labels = plan.coverage.covered(inner, plan.inner_length) > 0
        else:
            labels = labels_of(plan.coverage, plan.spec, inner, plan.inner_length)
        out[begin : begin + indices.size] = labels.any(axis=1)
    return out


def classes_of(plan: Plan) -> Classes:
    """The plan's positives and negatives (and GC bins and targets), computed once."""
    found = plan._training.get("classes")
    if found is not None:
        return found
    mask = positive_mask(plan)
    positives, negatives = np.flatnonzero(mask), np.flatnonzero(~mask)
    classes = Classes(positives, negatives)
    if plan.spec.gc_matched:
        regions, starts = plan.windows.locate(np.arange(plan.num_windows, dtype=np.int64))
        counts = gc.window_gc(
            [plan.genomes[a] for a in range(len(plan.genomes))],
            plan.region_assembly,
            plan.region_store_offsets,
            plan.region_lengths,
            regions,
            starts,
            plan.spec.seq_length,
        )
        bins = gc.gc_bins(counts, plan.spec.seq_length)
        pos_bins, neg_bins = bins[positives], bins[negatives]
        wanted = _targets(np.bincount(pos_bins, minlength=GC_BINS), _num_negatives(plan, classes))
        targets = np.minimum(wanted, np.bincount(neg_bins, minlength=GC_BINS))
        classes = Classes(positives, negatives, pos_bins, neg_bins, targets)
    plan._training["classes"] = classes
    return classes


def _num_negatives(plan: Plan, classes: Classes) -> int:
    r = plan.spec.negatives_per_positive or 0.0
    return min(int(np.floor(r * classes.positives.size + 1e-9)), classes.negatives.size)


def _targets(positive_counts: np.ndarray, total: int) -> np.ndarray:
    """``total`` shared out over bins in proportion to ``positive_counts`` (largest remainders)."""
    if positive_counts.sum() == 0:
        return np.zeros(GC_BINS, dtype=np.int64)
    exact = positive_counts * (total / positive_counts.sum())
    targets = np.floor(exact).astype(np.int64)
    short = total - int(targets.sum())
    targets[np.argsort(-(exact - targets), kind="stable")[:short]] += 1
    return targets


def _order(plan: Plan, size: int, epoch: int) -> EpochOrder:
    return EpochOrder(size, (plan.spec.seed ^ _SALT) & _MASK64, epoch, shuffle=True)


@kernel
def _take_per_bin(bins: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Positions (in the given order) of the first ``targets[b]`` entries of each bin ``b``."""
    taken = np.zeros(targets.shape[0], dtype=np.int64)
    out = np.empty(targets.sum(), dtype=np.int64)
    n = 0
    for i in range(bins.shape[0]):
        b = bins[i]
        if taken[b] < targets[b]:
            taken[b] += 1
            out[n] = i
            n += 1
            if n == out.shape[0]:
                break
    return out[:n]


def epoch_negatives(plan: Plan, classes: Classes, epoch: int) -> np.ndarray:
    """The negatives of ``epoch``: window indices, sorted."""
    size = classes.negatives.size
    if size == 0:
        return classes.negatives
    if classes.targets is None:
        k = _num_negatives(plan, classes)
        chosen = _order(plan, size, epoch).window_indices(np.arange(k, dtype=np.int64))
    else:
        walk = _order(plan, size, epoch).window_indices(np.arange(size, dtype=np.int64))
        assert classes.negative_bins is not None
        chosen = walk[_take_per_bin(classes.negative_bins[walk], classes.targets)]
    return np.sort(classes.negatives[chosen])


def gc_difference(classes: Classes) -> float | None:
    """The achieved histogram difference of every epoch (None without gc_matched)."""
    if classes.targets is None or classes.positive_bins is None:
        return None
    negative_bins = np.repeat(np.arange(GC_BINS), classes.targets)
    return gc.max_difference(classes.positive_bins, negative_bins)
