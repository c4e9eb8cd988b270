"""Property tests of the sampling pieces on their own: encoders, the packed reverse
complement, shifts, negatives' targets and elastic resume arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaksql.core.alphabet import LETTER_TO_MASK
from peaksql.core.elastic import resume_position
from peaksql.core.encodings import ENCODINGS, decode_tokens, get_encoding
from peaksql.core.errors import InvalidArgument
from peaksql.core.shards import num_positions
from peaksql.core.spec import DatasetSpec
from peaksql.core.wire import pack_sequences, unpack_masks
from peaksql.server.engine import augment
from peaksql.server.engine.negatives import _targets
from peaksql.server.engine.order import Cursor, positions_for
from tests import reference

LETTERS = "ACGTRYSWKMBDHVN-"
texts = st.integers(1, 41).flatmap(
    lambda n: st.lists(st.text(LETTERS, min_size=n, max_size=n), min_size=1, max_size=6)
)


def packed_of(batch: list[str]) -> np.ndarray:
    codes = np.array([[LETTER_TO_MASK[c] for c in t] for t in batch], dtype=np.uint8)
    return np.ascontiguousarray(pack_sequences(codes))


@settings(deadline=None)
@given(batch=texts, data=st.data())
def test_packed_reverse_complement_matches_reference(batch, data):
    L = len(batch[0])
    flip = np.array(data.draw(st.lists(st.booleans(), min_size=len(batch), max_size=len(batch))))
    rows = packed_of(batch)
    augment.reverse_complement_rows(rows, L, flip, augment.COMPLEMENT)
    want = [reference.reverse_complement(t) if f else t for t, f in zip(batch, flip, strict=True)]
    assert np.array_equal(rows, packed_of(want))
    augment.reverse_complement_rows(rows, L, flip, augment.COMPLEMENT)
    assert np.array_equal(rows, packed_of(batch))  # an involution


@settings(deadline=None)
@given(batch=texts, name=st.sampled_from(["tokens", "iupac_tokens"]))
def test_tokens_match_the_documented_map(batch, name):
    L = len(batch[0])
    table = reference.TOKENS if name == "tokens" else reference.IUPAC_TOKENS
    got = decode_tokens(packed_of(batch), L, name, np.int16)
    assert got.dtype == np.int16 and got.shape == (len(batch), L)
    assert np.array_equal(got, reference.tokens_of(batch, table))
    masks = unpack_masks(packed_of(batch), len(batch), L)
    token_table = get_encoding(name).token_table
    assert token_table is not None
    assert np.array_equal(got, token_table[masks])


def test_encodings_registry_and_errors():
    assert next(iter(ENCODINGS)) == "one_hot"
    with pytest.raises(InvalidArgument, match="one_hot, tokens"):
        get_encoding("kmers")
    with pytest.raises(InvalidArgument, match="integer or floating"):
        decode_tokens(np.zeros((1, 1), np.uint8), 2, "tokens", np.bool_)


def test_torch_device_tokens_equal_host_tokens():
    torch_module = pytest.importorskip("peaksql.torch")
    import torch

    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, size=(5, 9), dtype=np.uint8)
    for name in ("tokens", "iupac_tokens"):
        host = decode_tokens(rows, 17, name, np.int64)
        device = torch_module.unpack_on_device(
            torch.from_numpy(rows), 17, dtype=torch.int64, encoding=name
        )
        assert np.array_equal(device.numpy(), host)


@settings(deadline=None)
@given(
    seed=st.integers(0, 2**64 - 1),
    epoch=st.integers(0, 1000),
    shift=st.integers(1, 500),
    indices=st.lists(st.integers(0, 2**40), min_size=1, max_size=50),
)
def test_shift_offsets_stay_in_range_and_are_pure(seed, epoch, shift, indices):
    array = np.array(indices, dtype=np.int64)
    offsets = augment.shift_offsets(seed, epoch, array, shift)
    assert offsets.min() >= -shift and offsets.max() <= shift
    assert np.array_equal(offsets[::-1], augment.shift_offsets(seed, epoch, array[::-1], shift))


@given(counts=st.lists(st.integers(0, 50), min_size=20, max_size=20), total=st.integers(0, 3000))
def test_gc_targets_sum_to_total(counts, total):
    targets = _targets(np.array(counts), total)
    assert targets.sum() == (total if sum(counts) else 0)
    assert (targets >= 0).all()


def test_spec_checks_training_fields():
    with pytest.raises(InvalidArgument, match="'random' or 'both'"):
        DatasetSpec(seq_length=10, reverse_complement=True)
    with pytest.raises(InvalidArgument, match="reverse_complement"):
        DatasetSpec(seq_length=10, reverse_complement="sometimes")
    with pytest.raises(InvalidArgument, match="negatives_per_positive"):
        DatasetSpec(seq_length=10, gc_matched=True)
    with pytest.raises(InvalidArgument, match="exclude_fraction"):
        DatasetSpec(seq_length=10, exclude_fraction=1.0)
    with pytest.raises(InvalidArgument, match="both excluded"):
        DatasetSpec(seq_length=10, exclude=("a",), conditions=("a",))
    assert DatasetSpec(seq_length=10, reverse_complement=False).reverse_complement == ""


# --- elastic resume ------------------------------------------------------------------------


def _rank_positions(cursor: Cursor, n: int, count: int) -> list[int]:
    return positions_for(cursor, count, n, equal=True).tolist()


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 200),
    old=st.integers(1, 8),
    new=st.integers(1, 8),
    fraction=st.floats(0, 1.2),
    hops=st.integers(1, 3),
)
def test_elastic_resume_delivers_every_window_once(n, old, new, fraction, hops):
    """W ranks in lockstep deliver k each; any rank's state resumes on W' ranks (hops times);
    every window comes exactly once, but for the padding equal shares add at the very end
    (as DistributedSampler: fewer than W repeats of each world that reached the end)."""
    delivered: list[int] = []
    state = {"epoch": 0, "delivered": 0, "offset": 0, "rank": 0, "world_size": old}
    state["equal_shares"] = True
    worlds = [old] + [new if h % 2 == 0 else old for h in range(hops)]
    padding = 0
    for hop, world in enumerate(worlds):
        cursors = []
        for rank in range(world):
            epoch, done, offset = resume_position(state, rank, world)
            cursors.append(Cursor(epoch, rank, world, done, offset))
        # the restored rank keeps its own cursor, the others start at the rebased offset:
        # two spellings of the same place
        begin = cursors[0].offset + cursors[0].delivered * world
        assert all(c.offset + c.delivered * world == begin for c in cursors)
        left = num_positions(max(n - begin, 0), 0, world, equal=True)
        k = left if hop == len(worlds) - 1 else min(left, int(fraction * left))
        for cursor in cursors:
            delivered += _rank_positions(cursor, n, k)
        padding += max(0, begin + k * world - max(n, begin))
        state = {
            "epoch": 0,
            "delivered": cursors[-1].delivered + k,
            "offset": cursors[-1].offset,
            "rank": world - 1,
            "world_size": world,
            "equal_shares": True,
        }
    assert sorted(set(delivered)) == list(range(n))
    assert len(delivered) == n + padding


def test_elastic_resume_refuses_states_without_lockstep():
    state = {"epoch": 1, "delivered": 5, "rank": 1, "world_size": 4, "equal_shares": False}
    assert resume_position(state, 1, 4) == (1, 5, 0)
    with pytest.raises(InvalidArgument, match="equal_shares=False"):
        resume_position(state, 0, 3)
    state["equal_shares"] = True
    assert resume_position(state, 2, 3) == (1, 0, 20)
