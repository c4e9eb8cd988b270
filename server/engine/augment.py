"""Augmentation per epoch: shifts and reverse complements, seeded per (window, epoch).

- **Shift** (``max_shift=s``): window ``i`` of epoch ``e`` moves by
  ``h(seed, e, i) mod (2s + 1) - s`` bases (``h``: splitmix64, the hash of ``order``), clipped
  so that it stays inside its chromosome. A shift that would move a window onto excluded
  intervals (``exclusion``) or past ``max_n_fraction`` is not made: the window stays where
  the plan put it. Labels are those of the shifted window.
- **Reverse complement**: under ``"random"`` window ``i`` of epoch ``e`` is flipped when bit 0
  of ``h(seed', e, i)`` is set; under ``"both"`` the epoch holds every window twice (item
  ``2j`` forward, ``2j + 1`` reverse, ``epochs.EpochView``). A flipped row is reversed and
  complemented on the packed 4-bit codes (``reverse_complement_rows``: the complement of an
  IUPAC mask is its bit reversal, A=1000 <-> T=0001, C=0100 <-> G=0010, R <-> Y, N = N).
  Positional labels (per base, or per bin under ``bin_size``) are reversed along their last
  axis; stranded signal pairs swap strands (``swap_stranded``, ``Plan.strand_partner``);
  per-window labels are unchanged. Coordinates report the strand.

Everything is arithmetic on the window index and epoch, so it is the same on every replica,
after any resume and under any sharding.
"""

from __future__ import annotations

import numpy as np

from peaksql.core.label_modes import positional_labels
from peaksql.server.engine.jit import kernel
from peaksql.server.engine.kernels import mix_keyed
from peaksql.server.engine.labels import Coverage
from peaksql.server.engine.n_filter import n_runs
from peaksql.server.engine.order import _splitmix64
from peaksql.server.engine.plan import Plan

_MASK64 = (1 << 64) - 1
_SHIFT_SALT = 0x7368696674
_STRAND_SALT = 0x737472616E64


def _hash(seed: int, salt: int, epoch: int, indices: np.ndarray) -> np.ndarray:
    """splitmix64 of each window index under a key of (seed, salt, epoch), uint64."""
    key = _splitmix64(_splitmix64((seed ^ salt) & _MASK64) ^ epoch)
    return mix_keyed(np.ascontiguousarray(indices, dtype=np.int64), np.uint64(key))


def shift_offsets(seed: int, epoch: int, indices: np.ndarray, max_shift: int) -> np.ndarray:
    """The seeded offset in ``[-max_shift, max_shift]`` of each window, int64."""
    span = np.uint64(2 * max_shift + 1)
    return (_hash(seed, _SHIFT_SALT, epoch, indices) % span).astype(np.int64) - max_shift


def random_strands(seed: int, epoch: int, indices: np.ndarray) -> np.ndarray:
    """Whether each window is reverse complemented under "random", bool."""
    return (_hash(seed, _STRAND_SALT, epoch, indices) & np.uint64(1)).astype(bool)


def shifted_starts(
    plan: Plan, indices: np.ndarray, regions: np.ndarray, starts: np.ndarray, epoch: int
) -> np.ndarray:
    """Starts after the epoch's shift: inside the chromosome, never onto excluded bases."""
    max_shift = plan.spec.max_shift
    if not max_shift:
        return starts
    moved = starts + shift_offsets(plan.spec.seed, epoch, indices, max_shift)
    last = np.maximum(plan.region_lengths[regions] - plan.spec.seq_length, 0)
    moved = np.clip(moved, 0, last)
    if plan.exclusion is not None:
        moved = np.where(plan.exclusion.allowed(regions, moved), moved, starts)
    if plan.spec.max_n_fraction is not None:
        plan_starts = np.ascontiguousarray(plan.region_bases[regions] + moved)
        n_bases = _n_coverage(plan).covered(plan_starts, plan.spec.seq_length)[:, 0]
        moved = np.where(n_bases / plan.spec.seq_length <= plan.spec.max_n_fraction, moved, starts)
    return moved


def _n_coverage(plan: Plan) -> Coverage:
    """Runs of N of the plan's regions as one coverage column (built once per plan, from
    ``n_filter``'s cached runs), so a shift keeps ``max_n_fraction`` too."""
    found = plan._training.get("n_coverage")
    if found is None:
        starts, ends = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for k, assembly in enumerate(plan.region_assembly):
            offset, length = int(plan.region_store_offsets[k]), int(plan.region_lengths[k])
            run_starts, run_ends = n_runs(plan.genomes[assembly], offset, length)
            starts.append(run_starts + plan.region_bases[k])
            ends.append(run_ends + plan.region_bases[k])
        begin, end = np.concatenate(starts), np.concatenate(ends)
        found = Coverage.build(1, np.zeros(begin.size, np.int64), begin, end)
        plan._training["n_coverage"] = found
    return found


#: 4-bit mask -> its complement (the bit reversal: A C G T -> T G C A).
COMPLEMENT = np.array([int(f"{m:04b}"[::-1], 2) for m in range(16)], dtype=np.uint8)


@kernel
def reverse_complement_rows(
    rows: np.ndarray, seq_length: int, flip: np.ndarray, complement: np.ndarray
) -> None:
    """Reverse-complement the packed rows ``rows[i]`` where ``flip[i]``, in place.

    Even ``seq_length``: the complement of a byte's two bases, swapped, is the byte's 8-bit
    reversal (b7..b0 -> b0..b7), so a row is its bytes in reverse order, each bit-reversed:
    uint8 shifts and masks only, which LLVM vectorises. Odd: base by base (the pad nibble
    stays last and zero).
    """
    width = rows.shape[1]
    tmp = np.empty(width, dtype=np.uint8)
    codes = np.empty(seq_length, dtype=np.uint8)
    s1, s2, s4 = np.uint8(1), np.uint8(2), np.uint8(4)
    m1, m2, m4 = np.uint8(0x55), np.uint8(0x33), np.uint8(0x0F)
    for i in range(rows.shape[0]):
        if not flip[i]:
            continue
        row = rows[i]
        if seq_length % 2 == 0:
            for j in range(width):  # in order, uint8 variables only: vectorised
                b = row[j]
                b = ((b >> s4) & m4) | ((b & m4) << s4)
                b = ((b >> s2) & m2) | ((b & m2) << s2)
                tmp[j] = ((b >> s1) & m1) | ((b & m1) << s1)
            for j in range(width):
                row[j] = tmp[width - 1 - j]
            continue
        for j in range(seq_length):
            byte = row[j >> 1]
            codes[j] = (byte >> 4) if j % 2 == 0 else (byte & 15)
        for j in range(width):
            row[j] = 0
        for j in range(seq_length):
            code = complement[codes[seq_length - 1 - j]]
            row[j >> 1] |= (code << 4) if j % 2 == 0 else code


def swap_stranded(labels: np.ndarray, flip: np.ndarray, partner: np.ndarray | None) -> None:
    """Swap the (+, -) columns of stranded signal pairs of flipped windows, in place.

    ``partner[c]`` is column c's other strand (itself when unstranded, ``Plan.strand_partner``).
    Column labels (B, C, ...) take their partner's column; class indices (B,) or (B, bins)
    map class c to ``partner[c]`` (the background stays).
    """
    if partner is None or (partner == np.arange(partner.size)).all():
        return
    if labels.dtype.kind in "iu":  # class indices
        table = np.append(partner, partner.size).astype(labels.dtype)
        labels[flip] = table[labels[flip]]
    elif labels.ndim >= 2 and labels.shape[1] == partner.size:
        labels[flip] = labels[flip][:, partner]
    elif labels.ndim >= 2 and labels.shape[1] == partner.size + 1:  # one-hot classes
        labels[flip] = labels[flip][:, np.append(partner, partner.size)]


def apply_strands(sequences: np.ndarray, labels: np.ndarray, flip: np.ndarray, plan: Plan) -> None:
    """Reverse-complement flipped windows in place: packed rows, positional labels (the
    last axis: per base or per bin), stranded pairs (``swap_stranded``)."""
    if not flip.any():
        return
    reverse_complement_rows(sequences, plan.spec.seq_length, flip, COMPLEMENT)
    if positional_labels(plan.spec):
        labels[flip] = labels[flip][..., ::-1]
    swap_stranded(labels, flip, plan.strand_partner)
