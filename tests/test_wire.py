"""The wire codec against per-base Python references built from the letter table itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from peaksql.core import alphabet
from peaksql.core.errors import InvalidArgument
from peaksql.core.wire import (
    POLICIES,
    pack_labels,
    pack_sequences,
    sparse_index_dtype,
    unpack_labels,
    unpack_masks,
    unpack_sequences,
)

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def batches(draw, letters: str = alphabet.IUPAC_LETTERS) -> list[str]:
    """B >= 1 windows of one length L >= 1 (odd or even), over the given letters."""
    num_rows = draw(st.integers(1, 5))
    length = draw(st.integers(1, 41))
    row = st.text(alphabet=letters, min_size=length, max_size=length)
    return draw(st.lists(row, min_size=num_rows, max_size=num_rows))


def _encode(rows: list[str]) -> np.ndarray:
    return alphabet.encode("".join(rows)).reshape(len(rows), len(rows[0]))


def _letter_bits(letter: str) -> list[int]:
    mask = alphabet.LETTER_TO_MASK[letter.upper()]
    return [(mask >> shift) & 1 for shift in (3, 2, 1, 0)]


def _reference(rows: list[str], policy: str) -> np.ndarray:
    """Per-base decode written out by hand, one letter at a time."""
    out = []
    for row in rows:
        decoded = []
        for letter in row:
            bits = _letter_bits(letter)
            count = sum(bits)
            if policy == "mask":
                decoded.append([float(b) for b in bits])
            elif policy == "zeros":
                decoded.append([float(b) if count == 1 else 0.0 for b in bits])
            else:  # uniform
                decoded.append([b / count if count else 0.0 for b in bits])
        out.append(decoded)
    return np.array(out, dtype=np.float64).reshape(len(rows), len(rows[0]), 4)


def test_every_letter_is_covered_by_the_strategy():
    assert set(alphabet.IUPAC_LETTERS) >= set("ACGTRYSWKMBDHVN-acgtryswkmbdhvn")


@SETTINGS
@given(batches())
def test_packed_bytes_follow_the_layout(rows):
    packed = pack_sequences(_encode(rows))
    length = len(rows[0])
    assert packed.dtype == np.uint8
    assert packed.shape == (len(rows), (length + 1) // 2)
    for i, row in enumerate(rows):
        masks = [alphabet.LETTER_TO_MASK[c.upper()] for c in row] + [0]
        expected = [masks[2 * j] << 4 | masks[2 * j + 1] for j in range((length + 1) // 2)]
        assert packed[i].tolist() == expected


@SETTINGS
@given(batches())
def test_mask_round_trip_and_unpackbits_identity(rows):
    num_rows, length = len(rows), len(rows[0])
    packed = pack_sequences(_encode(rows))
    message = packed.tobytes()
    bits = np.array([[_letter_bits(c) for c in row] for row in rows], dtype=np.uint8)

    decoded = unpack_sequences(message, num_rows, length, policy="mask", dtype=np.uint8)
    np.testing.assert_array_equal(decoded, bits)
    identity = np.unpackbits(np.frombuffer(message, np.uint8)).reshape(num_rows, -1, 4)
    np.testing.assert_array_equal(identity[:, :length], bits.astype(bool))

    masks = unpack_masks(message, num_rows, length)
    expected = [[alphabet.LETTER_TO_MASK[c.upper()] for c in row] for row in rows]
    assert masks.tolist() == expected


@SETTINGS
@given(batches(), st.sampled_from(["zeros", "uniform", "mask"]))
def test_policies_match_the_per_base_reference(rows, policy):
    packed = pack_sequences(_encode(rows))
    for dtype in (np.float32, np.float64, np.float16):
        decoded = unpack_sequences(packed, len(rows), len(rows[0]), policy=policy, dtype=dtype)
        assert decoded.dtype == dtype
        assert decoded.shape == (len(rows), len(rows[0]), 4)
        np.testing.assert_allclose(decoded, _reference(rows, policy), rtol=1e-3)


@SETTINGS
@given(batches(), st.integers(0, 2**32))
def test_random_is_reproducible_and_compatible(rows, seed):
    num_rows, length = len(rows), len(rows[0])
    message = pack_sequences(_encode(rows)).tobytes()
    first = unpack_sequences(message, num_rows, length, policy="random", seed=seed)
    again = unpack_sequences(message, num_rows, length, policy="random", seed=seed)
    np.testing.assert_array_equal(first, again)
    for i, row in enumerate(rows):
        for j, letter in enumerate(row):
            bits = _letter_bits(letter)
            chosen = first[i, j].tolist()
            assert sum(chosen) == (1.0 if any(bits) else 0.0)
            assert all(bit or not value for bit, value in zip(bits, chosen, strict=True))


def test_random_draws_every_compatible_base_about_equally():
    rows = ["N" * 1000 + "R" * 1000 + "B" * 999]
    decoded = unpack_sequences(
        pack_sequences(_encode(rows)), 1, len(rows[0]), policy="random", seed=3
    )[0]
    n_counts = decoded[:1000].sum(axis=0)
    assert np.all(np.abs(n_counts - 250) < 60), n_counts
    r_counts = decoded[1000:2000].sum(axis=0)
    assert r_counts[1] == r_counts[3] == 0 and np.all(np.abs(r_counts[[0, 2]] - 500) < 80)
    b_counts = decoded[2000:].sum(axis=0)
    assert b_counts[0] == 0 and np.all(np.abs(b_counts[1:] - 333) < 70), b_counts
    other = unpack_sequences(
        pack_sequences(_encode(rows)), 1, len(rows[0]), policy="random", seed=4
    )[0]
    assert not np.array_equal(decoded, other)


def test_buffer_kinds_decode_alike_and_soft_mask_is_dropped():
    codes = _encode(["ACGTNacgtn-R", "ryswkmbdhvAC"])
    packed = pack_sequences(codes)
    upper = pack_sequences(codes & alphabet.MASK_BITS)
    np.testing.assert_array_equal(packed, upper)
    message = packed.tobytes()
    views = [
        message,
        memoryview(message),
        bytearray(message),
        packed,
        np.frombuffer(message, np.uint8),
    ]
    results = [unpack_sequences(v, 2, 12, policy="uniform") for v in views]
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])
    assert unpack_sequences(message, 2, 12, policy="zeros", dtype=bool).dtype == np.bool_


def test_bad_arguments_name_the_problem():
    message = bytes(6)
    with pytest.raises(InvalidArgument, match="zeros, uniform, random, mask"):
        unpack_sequences(message, 2, 6, policy="onehot")
    with pytest.raises(InvalidArgument, match="expected batch_size"):
        unpack_sequences(message, 2, 7)
    with pytest.raises(InvalidArgument, match="seq_length"):
        unpack_sequences(message, 6, 0)
    with pytest.raises(InvalidArgument, match="floating"):
        unpack_sequences(message, 2, 6, policy="uniform", dtype=np.uint8)
    with pytest.raises(InvalidArgument, match="codes"):
        pack_sequences(np.zeros(5, np.uint8))
    with pytest.raises(InvalidArgument, match="dtype complex64"):
        pack_labels(np.zeros(3, np.complex64))
    with pytest.raises(InvalidArgument, match="need 1 bytes, got 2"):
        unpack_labels(bytes(2), (2, 3), "bool")
    with pytest.raises(InvalidArgument, match="unknown label dtype"):
        unpack_labels(bytes(8), (1,), "int64")
    assert POLICIES == ("zeros", "uniform", "random", "mask")


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9)


@SETTINGS
@given(hnp.arrays(np.bool_, shapes))
def test_bool_labels_round_trip_bit_packed(labels):
    data, shape, dtype = pack_labels(labels, sparse=False)
    assert dtype == "bool" and shape == labels.shape
    assert len(data) == (labels.size + 7) // 8
    restored = unpack_labels(data, shape, dtype)
    assert restored.dtype == np.bool_
    np.testing.assert_array_equal(restored, labels)


@SETTINGS
@given(hnp.arrays(st.sampled_from([np.float32, np.float64]), shapes, elements=st.floats(width=32)))
def test_float_labels_round_trip_as_little_endian_float32(labels):
    data, shape, dtype = pack_labels(labels)
    assert dtype == "float32" and shape == labels.shape
    assert data == labels.astype("<f4").tobytes()
    restored = unpack_labels(memoryview(data), shape, dtype)
    assert restored.dtype == np.float32 and restored.flags.writeable
    np.testing.assert_array_equal(restored, labels.astype(np.float32))


def test_per_base_labels_keep_their_layout():
    labels = np.random.default_rng(0).random((4, 3, 37)) > 0.5  # (B, C, L)
    data, shape, dtype = pack_labels(labels)
    assert data == np.packbits(labels.reshape(-1)).tobytes()
    np.testing.assert_array_equal(unpack_labels(data, shape, dtype), labels)


mostly_zero = hnp.arrays(
    np.bool_,
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=40),
    elements=st.sampled_from([False] * 15 + [True]),
)


@SETTINGS
@given(mostly_zero)
def test_sparse_and_dense_labels_decode_equal(labels):
    dense = pack_labels(labels, sparse=False)
    chosen = pack_labels(labels)
    assert chosen[2] in ("bool", "bool-sparse") and chosen[1] == labels.shape
    assert len(chosen[0]) <= len(dense[0])  # the smaller encoding travels
    sparse_bytes = np.flatnonzero(labels).astype(sparse_index_dtype(labels.shape)).tobytes()
    for data, shape, dtype in (dense, chosen, (sparse_bytes, labels.shape, "bool-sparse")):
        restored = unpack_labels(data, shape, dtype)
        assert restored.dtype == np.bool_ and restored.flags.writeable
        np.testing.assert_array_equal(restored, labels)


def test_sparse_labels_layout_and_width():
    labels = np.zeros((128, 500), bool)
    labels[3, 7] = labels[127, 499] = True
    data, shape, dtype = pack_labels(labels)
    assert dtype == "bool-sparse" and shape == (128, 500)
    assert data == np.array([3 * 500 + 7, 128 * 500 - 1], "<u2").tobytes()
    assert sparse_index_dtype((128, 1000, 8)) == np.dtype("<u4")
    assert sparse_index_dtype((1 << 17, 1 << 16)) == np.dtype("<u8")
    assert pack_labels(np.ones((4, 8), bool))[2] == "bool"  # dense is smaller


def test_malformed_sparse_labels_are_refused():
    with pytest.raises(InvalidArgument, match="2-byte indices, got 3 bytes"):
        unpack_labels(bytes(3), (2, 3), "bool-sparse")
    with pytest.raises(InvalidArgument, match="index 6 is outside shape"):
        unpack_labels(np.array([1, 6], "<u2").tobytes(), (2, 3), "bool-sparse")
