"""Build batches from a plan: window indices -> packed sequences + labels (+ coordinates).

Per batch: one ``locate`` (arithmetic), one ``gather_pack`` per assembly and one label
kernel call; no per-window Python and no SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from peaksql.core.wire import packed_row_bytes
from peaksql.server.engine import augment, kernels
from peaksql.server.engine.epochs import EpochView, epoch_view
from peaksql.server.engine.labels import labels_of
from peaksql.server.engine.order import Cursor, EpochOrder, positions_for
from peaksql.server.engine.plan import Plan


@dataclass(frozen=True)
class BatchData:
    """One batch in wire layout: (B, ceil(L/2)) packed sequences and boolean labels."""

    sequences: np.ndarray  # uint8 (B, ceil(L/2))
    labels: np.ndarray  # (B, C), (B, C, bins or bases), class (B[, bins]); NaN: missing="mask"
    window_indices: np.ndarray  # int64 (B,)
    regions: np.ndarray  # int64 (B,)
    starts: np.ndarray  # int64 (B,)
    cursor: Cursor | None = None
    strands: np.ndarray | None = None  # bool (B,): reverse complemented (augment)

    @property
    def batch_size(self) -> int:
        return int(self.window_indices.shape[0])


def build_batch(plan: Plan, indices: np.ndarray) -> BatchData:
    """Sequences and labels of the windows ``indices`` of ``plan``, in that order."""
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    regions, starts = plan.windows.locate(indices)
    return BatchData(
        sequences=gather_sequences(plan, regions, starts),
        labels=plan.mark_missing(label_windows(plan, regions, starts), regions),
        window_indices=indices,
        regions=regions,
        starts=starts,
    )


def build_epoch_batch(
    plan: Plan, view: EpochView, items: np.ndarray, cursor: Cursor | None = None
) -> BatchData:
    """The epoch's items ``items``: its windows, shifted and reverse complemented
    (``augment``) as the epoch says; ``build_batch`` when the spec asks for neither.
    ``cursor``: where the stream stands after this batch."""
    indices, strands = view.locate(items)
    regions, starts = plan.windows.locate(indices)
    starts = augment.shifted_starts(plan, indices, regions, starts, view.epoch)
    sequences = gather_sequences(plan, regions, starts)
    labels = plan.mark_missing(label_windows(plan, regions, starts), regions)
    if strands is not None:
        augment.apply_strands(sequences, labels, strands, plan)
    return BatchData(sequences, labels, indices, regions, starts, cursor, strands)


def gather_sequences(plan: Plan, regions: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Gather each window from its assembly's memmap and pack it, 4 bits a base."""
    seq_length = plan.spec.seq_length
    out = np.empty((regions.shape[0], packed_row_bytes(seq_length)), dtype=np.uint8)
    store_positions = plan.region_store_offsets[regions] + starts
    if len(plan.genomes) == 1:
        kernels.gather_pack(plan.genomes[0], store_positions, seq_length, out)
        return out
    assembly = plan.region_assembly[regions]
    for a in np.unique(assembly):
        rows = np.flatnonzero(assembly == a)
        part = np.empty((rows.shape[0], out.shape[1]), dtype=np.uint8)
        kernels.gather_pack(plan.genomes[a], store_positions[rows], seq_length, part)
        out[rows] = part
    return out


def label_windows(plan: Plan, regions: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Labels of each window over its centred inner range."""
    inner_starts = plan.region_bases[regions] + starts + plan.inner_offset
    labels = labels_of(plan.coverage, plan.spec, inner_starts, plan.inner_length)
    if labels.dtype.kind == "f" and plan.spec.label_wire_dtype == "float16":
        return labels.astype(np.float16)  # the wire form the request asked for
    return labels


def iter_batches(
    plan: Plan,
    cursor: Cursor,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    equal_shares: bool = False,
    max_batches: int = 0,
    first_batch_size: int = 0,
) -> Iterator[BatchData]:
    """One rank's share of one epoch from ``cursor``, ``batch_size`` windows at a time
    (``first_batch_size`` in the first batch, when given).

    The epoch's order (its round keys) and its windows (``epochs.EpochView``: the epoch's
    subset of negatives, both strands) are set up once per stream, not per batch.
    """
    view = epoch_view(plan, cursor.epoch)
    order = EpochOrder(view.num_items, seed, cursor.epoch, shuffle)
    made = 0
    while not max_batches or made < max_batches:
        size = first_batch_size if first_batch_size and not made else batch_size
        positions = positions_for(cursor, size, view.num_items, equal=equal_shares)
        if positions.size == 0:
            return
        cursor = cursor.advanced(int(positions.size))
        made += 1
        yield build_epoch_batch(plan, view, order.window_indices(positions), cursor)


def positive_counts(plan: Plan, chunk: int = 65_536) -> np.ndarray:
    """Windows with a positive label per column (any positive base, for per_base)."""
    counts = np.zeros(len(plan.label_columns), dtype=np.int64)
    for begin in range(0, plan.num_windows, chunk):
        indices = np.arange(begin, min(begin + chunk, plan.num_windows), dtype=np.int64)
        regions, starts = plan.windows.locate(indices)
        labels = label_windows(plan, regions, starts)
        counts += _positives(labels, len(plan.label_columns))
    return counts


def _positives(labels: np.ndarray, num_columns: int) -> np.ndarray:
    """Per column, windows with a positive label (any bin; signal: any value above 0;
    class indices: windows of that class, the background not counted)."""
    if labels.dtype.kind in "iu":  # class indices, (B,) or (B, bins)
        hits = labels[..., None] == np.arange(num_columns)
        return hits.reshape(labels.shape[0], -1, num_columns).any(axis=1).sum(axis=0)
    positive = np.asarray(labels > 0 if labels.dtype.kind == "f" else labels)
    if positive.ndim == 3:
        positive = np.asarray(positive.any(axis=2))
    return np.asarray(positive[:, :num_columns].sum(axis=0))
