"""The packed wire format of a Batch: 4-bit sequences and small label tensors (numpy only).

Sequences. A batch of ``B`` windows of length ``L`` is ``B`` rows of ``H = ceil(L / 2)``
bytes, row-major, no header. Each base is its 4-bit IUPAC mask from ``peaksql.core.alphabet``
(bit 3 = A, bit 2 = C, bit 1 = G, bit 0 = T: A=1000, R=1010, N=1111, gap=0000; the store's
soft-mask bit is dropped). Byte ``j`` of row ``i`` holds base ``2j`` in the high nibble and
base ``2j + 1`` in the low nibble; an odd ``L`` pads the last low nibble with 0000::

    row i:  byte 0              byte 1              …  byte H-1
            ┌────────┬────────┐ ┌────────┬────────┐    ┌────────┬────────┐
            │ base 0 │ base 1 │ │ base 2 │ base 3 │ …  │ base   │ base   │
            │A C G T │A C G T │ │A C G T │A C G T │    │  L-2*  │ L-1 or │
            └────────┴────────┘ └────────┴────────┘    └────────┴─0000───┘
             bit 7..4  bit 3..0                               (* odd L: base L-1, pad)

So ``np.unpackbits(buf).reshape(B, -1, 4)[:, :L]`` is the boolean one-hot (B, L, 4): 8x
smaller than uint8 one-hot, 32x smaller than float32.

Decoding applies an ambiguity policy, one of the ``Policy`` registry (``POLICIES`` lists
the names; each policy's docstring is listed at the end of this text). A policy is a
function of the (16, 4) bits of every 4-bit mask and their popcounts to the decoded values;
one that draws per base also resolves the masks first. A gap is all zeros under every policy.
To add one: a function here under ``@ambiguity_policy("name")`` and a test.

Labels. ``(data, shape, dtype)``: ``bool`` labels are ``np.packbits`` of the row-major
flattened array (first label in the high bit, the last byte zero-padded); ``float32``,
``float16`` (signal labels under ``label_wire_dtype="float16"``: half the bytes) and
``int32`` (class indices) labels are their raw little-endian bytes, row-major.
``bool-sparse`` labels list the positions of the
true labels: each is the row-major flat index of its (window, column[, position]) in
``shape`` (``np.unravel_index`` gives the tuple), ascending, as little-endian unsigned
integers whose width both sides derive from ``shape`` alone (``sparse_index_dtype``: 2
bytes when ``prod(shape) <= 2**16``, 4 up to ``2**32``, else 8)::

    data:  ┌───────────┬───────────┬─────┬───────────┐
           │ index 0   │ index 1   │  …  │ index k-1 │   k = number of true labels
           │ uint16 LE │ uint16 LE │     │           │   (uint32/uint64 for larger shapes)
           └───────────┴───────────┴─────┴───────────┘

A sender picks per batch whichever of ``bool`` and ``bool-sparse`` is smaller
(``pack_labels``); 128 windows x 500 columns at 5 overlaps a window: 1,280 bytes instead of
8,000. The receiver densifies with one scatter into zeros; users get the same array.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from math import prod

import numpy as np

from peaksql.core.alphabet import MASK_BITS, POPCOUNT
from peaksql.core.errors import InvalidArgument

LABEL_DTYPES: tuple[str, ...] = ("bool", "float32", "float16", "int32", "bool-sparse")
#: wire dtype name -> its little-endian numpy dtype (every one but the bool ones).
_RAW_LABELS = {"float32": "<f4", "float16": "<f2", "int32": "<i4"}

#: mask -> its four bits (A, C, G, T) as 0/1.
_MASK_BITS_TABLE = np.array([[(m >> s) & 1 for s in (3, 2, 1, 0)] for m in range(16)], np.uint8)
#: (mask, k) -> the mask of its k-th possible base, in order A, C, G, T (0 past the last).
_NTH_BASE = np.array(
    [([b for b in (8, 4, 2, 1) if m & b] + [0, 0, 0, 0])[:4] for m in range(16)], np.uint8
)

#: (bits (16, 4) float64, popcounts (16, 1) float64) -> decoded values (16, 4).
Values = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: (masks (B, L) uint8, rewritten in place, seed) -> None.
Resolve = Callable[[np.ndarray, "int | None"], None]


@dataclass(frozen=True)
class Policy:
    """An ambiguity policy: the values of each mask, and (if it draws) a per-base resolve."""

    name: str
    values: Values
    floating: bool = False  # needs a floating dtype
    resolve: Resolve | None = None  # rewrites the masks first: no byte table, host only

    @property
    def doc(self) -> str:
        return (self.values.__doc__ or "").strip().splitlines()[0]


#: name -> policy, in registration order.
POLICY_REGISTRY: dict[str, Policy] = {}


def ambiguity_policy(
    name: str, *, floating: bool = False, resolve: Resolve | None = None
) -> Callable[[Values], Values]:
    """Register the decorated ``(bits, counts) -> values`` function as policy ``name``."""

    def register(values: Values) -> Values:
        if name in POLICY_REGISTRY:
            raise ValueError(f"policy {name!r} is registered twice")
        POLICY_REGISTRY[name] = Policy(name, values, floating, resolve)
        return values

    return register


def get_policy(name: str) -> Policy:
    """The policy called ``name``; InvalidArgument naming every policy if there is none."""
    found = POLICY_REGISTRY.get(name)
    if found is None:
        raise InvalidArgument(
            f"unknown policy {name!r}; choose one of {', '.join(POLICY_REGISTRY)}"
        )
    return found


def _resolve_random(masks: np.ndarray, seed: int | None) -> None:
    """Each ambiguous mask becomes one of its bases: the k-th ambiguous base in row-major
    order takes the k-th draw of ``np.random.default_rng(seed)``."""
    flat = masks.reshape(-1)
    ambiguous = np.flatnonzero(POPCOUNT[flat] >= 2)
    if ambiguous.size:
        choices = np.random.default_rng(seed).integers(0, POPCOUNT[flat[ambiguous]])
        flat[ambiguous] = _NTH_BASE[flat[ambiguous], choices]


@ambiguity_policy("zeros")
def _zeros(bits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Only A/C/G/T one-hot; every other letter all zeros."""
    return bits * (counts == 1)


@ambiguity_policy("uniform", floating=True)
def _uniform(bits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mask / popcount: N -> 0.25 each, R -> 0.5 A + 0.5 G."""
    return np.divide(bits, counts, out=np.zeros_like(bits), where=counts > 0)


@ambiguity_policy("random", resolve=_resolve_random)
def _random(bits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each ambiguous base becomes one compatible base drawn from the seed."""
    return bits * (counts == 1)


@ambiguity_policy("mask")
def _mask(bits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The raw bits as 0/1."""
    return bits


#: Policy names, in registration order.
POLICIES: tuple[str, ...] = tuple(POLICY_REGISTRY)
__doc__ = (
    (__doc__ or "")
    + "\nPolicies:\n\n"
    + "\n".join(f"- ``{p.name}``: {p.doc}" for p in POLICY_REGISTRY.values())
)


def packed_row_bytes(seq_length: int) -> int:
    """Bytes of one packed window of ``seq_length`` bases: ``ceil(seq_length / 2)``."""
    return (seq_length + 1) // 2


def _check_dtype(name: str, dtype: object) -> np.dtype:
    chosen = get_policy(name)
    try:
        resolved = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as error:
        raise InvalidArgument(f"dtype {dtype!r} is not a numpy dtype") from error
    if resolved.kind not in "biuf":
        raise InvalidArgument(f"dtype must be numeric or bool, got {resolved}")
    if chosen.floating and resolved.kind != "f":
        raise InvalidArgument(f"policy {name!r} needs a floating dtype, got {resolved}")
    return resolved


@lru_cache(maxsize=64)
def _base_table(name: str, dtype: np.dtype) -> np.ndarray:
    """(16, 4): the decoded values of each 4-bit mask under policy ``name``."""
    bits = _MASK_BITS_TABLE.astype(np.float64)
    counts = POPCOUNT.astype(np.float64)[:, None]
    table = POLICY_REGISTRY[name].values(bits, counts).astype(dtype)
    table.setflags(write=False)
    return table


@lru_cache(maxsize=64)
def _byte_table(policy: str, dtype: np.dtype) -> np.ndarray:
    """(256, 8): a packed byte -> the values of its two bases (high nibble first)."""
    base = _base_table(policy, dtype)
    byte = np.arange(256)
    table = np.concatenate([base[byte >> 4], base[byte & MASK_BITS]], axis=1)
    table.setflags(write=False)
    return table


def byte_table(policy: str, dtype: object = np.float32) -> np.ndarray:
    """(256, 8) decode table of ``policy`` (not one that draws per base), a writable copy
    (e.g. for a GPU)."""
    resolved = _check_dtype(policy, dtype)
    if get_policy(policy).resolve is not None:
        raise InvalidArgument(f"policy {policy!r} draws per base and has no byte table")
    return _byte_table(policy, resolved).copy()


def _raw_bytes(buf: bytes | bytearray | memoryview | np.ndarray, batch_size: int, seq_length: int):
    """The message bytes as a zero-copy (B, ceil(L/2)) uint8 view, sizes checked."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise InvalidArgument(f"batch_size must be an integer, got {batch_size!r}")
    if isinstance(seq_length, bool) or not isinstance(seq_length, (int, np.integer)):
        raise InvalidArgument(f"seq_length must be an integer, got {seq_length!r}")
    if batch_size < 0:
        raise InvalidArgument(f"batch_size must be >= 0, got {batch_size}")
    if seq_length < 1:
        raise InvalidArgument(f"seq_length must be >= 1, got {seq_length}")
    if isinstance(buf, np.ndarray):
        if buf.dtype != np.uint8:
            raise InvalidArgument(f"packed sequences must be uint8, got dtype {buf.dtype}")
        raw = buf.reshape(-1)
    else:
        raw = np.frombuffer(buf, dtype=np.uint8)
    row_bytes = packed_row_bytes(seq_length)
    if raw.size != batch_size * row_bytes:
        raise InvalidArgument(
            f"packed sequences hold {raw.size} bytes, expected batch_size * ceil(seq_length/2)"
            f" = {batch_size} * {row_bytes} = {batch_size * row_bytes}"
        )
    return raw.reshape(batch_size, row_bytes)


def pack_sequences(codes: np.ndarray) -> np.ndarray:
    """Store codes (B, L) uint8 -> packed (B, ceil(L/2)) uint8; the reference packer."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.dtype != np.uint8:
        raise InvalidArgument(
            f"codes must be a (batch, length) uint8 array, got {codes.ndim}-d {codes.dtype}"
        )
    masks = codes & MASK_BITS
    if masks.shape[1] % 2:
        masks = np.pad(masks, ((0, 0), (0, 1)))
    return (masks[:, 0::2] << 4) | masks[:, 1::2]


def unpack_masks(
    buf: bytes | bytearray | memoryview | np.ndarray, batch_size: int, seq_length: int
) -> np.ndarray:
    """Packed bytes -> the (B, L) uint8 4-bit masks (C-contiguous, writable)."""
    raw = _raw_bytes(buf, batch_size, seq_length)
    masks = np.empty((batch_size, raw.shape[1], 2), dtype=np.uint8)
    np.right_shift(raw, 4, out=masks[:, :, 0])
    np.bitwise_and(raw, MASK_BITS, out=masks[:, :, 1])
    return np.ascontiguousarray(masks.reshape(batch_size, -1)[:, :seq_length])


def unpack_sequences(
    buf: bytes | bytearray | memoryview | np.ndarray,
    batch_size: int,
    seq_length: int,
    *,
    policy: str = "zeros",
    dtype: object = np.float32,
    seed: int | None = None,
) -> np.ndarray:
    """Packed bytes -> (B, L, 4) one-hot under an ambiguity ``policy``.

    One ``np.take`` of a cached 256-row table (a byte -> its two decoded bases) over a
    zero-copy view of the message: no per-base Python, no intermediate masks. The result is
    a fresh writable array, C-contiguous for even L; for odd L a view that drops each row's
    pad base. ``random`` (ambiguous base -> one compatible base; the k-th ambiguous base in
    row-major order takes the k-th draw of ``np.random.default_rng(seed)``) goes through the
    masks instead.
    """
    resolved = _check_dtype(policy, dtype)
    resolve = get_policy(policy).resolve
    if resolve is not None:
        masks = unpack_masks(buf, batch_size, seq_length)
        resolve(masks, seed)
        return np.take(_base_table(policy, resolved), masks, axis=0)
    raw = _raw_bytes(buf, batch_size, seq_length)
    decoded = np.take(_byte_table(policy, resolved), raw, axis=0)
    return decoded.reshape(batch_size, 2 * raw.shape[1], 4)[:, :seq_length]


def sparse_index_dtype(shape: tuple[int, ...]) -> np.dtype:
    """Little-endian unsigned dtype of ``bool-sparse`` indices into an array of ``shape``."""
    count = prod(shape)
    return np.dtype("<u2" if count <= 1 << 16 else "<u4" if count <= 1 << 32 else "<u8")


def pack_labels(labels: np.ndarray, *, sparse: bool = True) -> tuple[bytes, tuple[int, ...], str]:
    """Labels -> (data, shape, dtype name): bool bit-packed or, when smaller and ``sparse``,
    the flat indices of the true labels (``bool-sparse``); float16 as float16, other floats
    as float32; integers as int32 (all little-endian)."""
    labels = np.asarray(labels)
    if labels.dtype == np.bool_:
        flat = labels.reshape(-1)
        width = sparse_index_dtype(labels.shape)
        if sparse and np.count_nonzero(flat) * width.itemsize < (flat.size + 7) // 8:
            return np.flatnonzero(flat).astype(width).tobytes(), labels.shape, "bool-sparse"
        return np.packbits(flat).tobytes(), labels.shape, "bool"
    if labels.dtype == np.float16:
        return labels.astype("<f2", copy=False).tobytes(), labels.shape, "float16"
    if labels.dtype.kind == "f":
        return labels.astype("<f4", copy=False).tobytes(), labels.shape, "float32"
    if labels.dtype.kind in "iu":
        return labels.astype("<i4", copy=False).tobytes(), labels.shape, "int32"
    raise InvalidArgument(f"labels must be bool, integer or floating, got dtype {labels.dtype}")


def unpack_labels(data: bytes | memoryview, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """(data, shape, dtype name) from ``pack_labels`` -> a writable numpy array."""
    shape = tuple(int(n) for n in shape)
    if any(n < 0 for n in shape):
        raise InvalidArgument(f"label shape must be non-negative, got {shape}")
    count = prod(shape)
    raw = np.frombuffer(data, dtype=np.uint8)
    if dtype == "bool":
        expected = (count + 7) // 8
        values = np.unpackbits(raw, count=count).astype(np.bool_) if raw.size == expected else None
    elif dtype in _RAW_LABELS:
        item = np.dtype(_RAW_LABELS[dtype])
        expected = item.itemsize * count
        values = raw.view(item).astype(item.newbyteorder("=")) if raw.size == expected else None
    elif dtype == "bool-sparse":
        return _densify(raw, shape, count)
    else:
        raise InvalidArgument(f"unknown label dtype {dtype!r}; choose one of {LABEL_DTYPES}")
    if values is None:
        raise InvalidArgument(
            f"{dtype} labels of shape {shape} need {expected} bytes, got {raw.size}"
        )
    return values.reshape(shape)


def _densify(raw: np.ndarray, shape: tuple[int, ...], count: int) -> np.ndarray:
    """``bool-sparse`` bytes -> the dense bool array: one scatter into zeros."""
    width = sparse_index_dtype(shape)
    if raw.size % width.itemsize:
        raise InvalidArgument(
            f"bool-sparse labels of shape {shape} are {width.itemsize}-byte indices, "
            f"got {raw.size} bytes"
        )
    indices = raw.view(width)
    if indices.size and int(indices.max()) >= count:
        raise InvalidArgument(
            f"bool-sparse label index {int(indices.max())} is outside shape {shape}"
        )
    values = np.zeros(count, dtype=np.bool_)
    values[indices] = True
    return values.reshape(shape)
