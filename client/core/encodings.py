"""Encodings of x: how packed 4-bit bases become the model's input (numpy; torch on device).

A registry like the ambiguity policies' (``peaksql.core.wire``): every encoding decodes the
same packed wire bytes, so the server never knows which one a client uses.

- ``one_hot`` (default): (B, L, 4) under the dataset's ambiguity ``policy``.
- ``tokens``: (B, L) integers for DNA language models, A, C, G, T -> 0, 1, 2, 3 and every
  other letter (N, the ambiguity codes R Y S W K M B D H V, a gap) -> 4 (N).
- ``iupac_tokens``: (B, L) integers, A C G T N -> 0 1 2 3 4, then R 5, Y 6, S 7, W 8, K 9,
  M 10, B 11, D 12, H 13, V 14, gap 15: one token per 4-bit mask, nothing merged.

A token encoding is a 16-entry table (4-bit mask -> token, ``token_table``): on the host one
``np.take`` of a 256-row table over the packed bytes, on a GPU a gather from the 16 entries
(``peaksql.torch.unpack_on_device``). The dtype is the caller's (any numeric numpy dtype);
token encodings ignore the ambiguity policy. To add one: a table or function here under
``ENCODINGS`` and a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from peaksql.core.errors import InvalidArgument

#: 4-bit IUPAC mask (bits A C G T) of each letter of ``iupac_tokens``, in token order.
_IUPAC_ORDER = {
    "A": 8, "C": 4, "G": 2, "T": 1, "N": 15, "R": 10, "Y": 5, "S": 6,
    "W": 9, "K": 3, "M": 12, "B": 7, "D": 11, "H": 13, "V": 14, "-": 0,
}  # fmt: skip


def _table(tokens: dict[int, int], default: int) -> np.ndarray:
    table = np.full(16, default, dtype=np.int64)
    for mask, token in tokens.items():
        table[mask] = token
    table.setflags(write=False)
    return table


@dataclass(frozen=True)
class Encoding:
    """One encoding of x; ``token_table`` (16,) for token encodings, None for one-hot."""

    name: str
    doc: str
    token_table: np.ndarray | None = None


#: name -> encoding, in registration order.
ENCODINGS: dict[str, Encoding] = {
    e.name: e
    for e in (
        Encoding("one_hot", "(B, L, 4) one-hot under the ambiguity policy"),
        Encoding(
            "tokens",
            "(B, L) A C G T -> 0 1 2 3, anything else -> 4 (N)",
            _table({8: 0, 4: 1, 2: 2, 1: 3}, 4),
        ),
        Encoding(
            "iupac_tokens",
            "(B, L) A C G T N -> 0-4, R Y S W K M B D H V -> 5-14, gap -> 15",
            _table({mask: k for k, mask in enumerate(_IUPAC_ORDER.values())}, 0),
        ),
    )
}


def get_encoding(name: str) -> Encoding:
    """The encoding called ``name``; InvalidArgument naming every encoding if there is none."""
    found = ENCODINGS.get(name)
    if found is None:
        raise InvalidArgument(f"unknown encoding {name!r}; choose one of {', '.join(ENCODINGS)}")
    return found


@lru_cache(maxsize=32)
def _byte_tokens(name: str, dtype: np.dtype) -> np.ndarray:
    """(256, 2): a packed byte -> the tokens of its two bases (high nibble first)."""
    table = get_encoding(name).token_table
    assert table is not None
    byte = np.arange(256)
    out = np.stack([table[byte >> 4], table[byte & 15]], axis=1).astype(dtype)
    out.setflags(write=False)
    return out


def decode_tokens(rows: np.ndarray, seq_length: int, name: str, dtype: object) -> np.ndarray:
    """Packed rows (B, ceil(L/2)) uint8 -> (B, L) tokens of encoding ``name`` in ``dtype``."""
    resolved = np.dtype(dtype)  # type: ignore[call-overload]
    if resolved.kind not in "iuf":
        raise InvalidArgument(f"tokens need an integer or floating dtype, got {resolved}")
    rows = np.asarray(rows, dtype=np.uint8)
    decoded = np.take(_byte_tokens(name, resolved), rows, axis=0)
    return decoded.reshape(rows.shape[0], 2 * rows.shape[1])[:, :seq_length]
