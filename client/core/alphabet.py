"""The one letter-to-code table of PeakSQL.

Every base is a 4-bit IUPAC mask of the bases it may be, in the order A, C, G, T
(bit 3 = A, bit 2 = C, bit 1 = G, bit 0 = T)::

    A 1000  C 0100  G 0010  T 0001
    R 1010  Y 0101  S 0110  W 1001  K 0011  M 1100
    B 0111  D 1011  H 1101  V 1110  N 1111  - 0000 (gap)

The genome store keeps one uint8 per base: the mask in the low nibble and
``SOFT_MASK_BIT`` (0x10) set where the FASTA letter was lowercase. The wire format
packs two masks per byte, first base in the high nibble (see ``peaksql.core.wire``).
"""

from __future__ import annotations

import numpy as np

SOFT_MASK_BIT = 0x10
MASK_BITS = 0x0F
INVALID = 0xFF

#: IUPAC nucleotide letter -> 4-bit mask (A, C, G, T from high to low bit).
LETTER_TO_MASK: dict[str, int] = {
    "A": 0b1000,
    "C": 0b0100,
    "G": 0b0010,
    "T": 0b0001,
    "R": 0b1010,
    "Y": 0b0101,
    "S": 0b0110,
    "W": 0b1001,
    "K": 0b0011,
    "M": 0b1100,
    "B": 0b0111,
    "D": 0b1011,
    "H": 0b1101,
    "V": 0b1110,
    "N": 0b1111,
    "-": 0b0000,
}

#: The letters a FASTA may contain (upper and lower case; '-' has no case).
IUPAC_LETTERS = "".join(LETTER_TO_MASK) + "".join(c.lower() for c in LETTER_TO_MASK if c != "-")


def _encode_table() -> np.ndarray:
    table = np.full(256, INVALID, dtype=np.uint8)
    for letter, mask in LETTER_TO_MASK.items():
        table[ord(letter)] = mask
        if letter.isalpha():
            table[ord(letter.lower())] = mask | SOFT_MASK_BIT
    return table


def _decode_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint8)
    for letter, mask in LETTER_TO_MASK.items():
        table[mask] = ord(letter)
        if letter.isalpha():
            table[mask | SOFT_MASK_BIT] = ord(letter.lower())
    return table


#: ASCII byte -> store code (``INVALID`` for anything that is not an IUPAC letter).
ENCODE_TABLE: np.ndarray = _encode_table()
#: store code -> ASCII byte (lowercase where soft-masked).
DECODE_TABLE: np.ndarray = _decode_table()
#: 4-bit mask -> number of possible bases (0 for a gap, 4 for N).
POPCOUNT: np.ndarray = np.array([bin(m).count("1") for m in range(16)], dtype=np.uint8)


def encode(text: str | bytes) -> np.ndarray:
    """Letters to store codes; raises ValueError naming the first non-IUPAC character."""
    raw = np.frombuffer(
        text.encode("ascii", "replace") if isinstance(text, str) else text, np.uint8
    )
    codes = ENCODE_TABLE[raw]
    bad = np.flatnonzero(codes == INVALID)
    if bad.size:
        pos = int(bad[0])
        raise ValueError(f"{chr(raw[pos])!r} at position {pos} is not an IUPAC nucleotide letter")
    return codes


def decode(codes: np.ndarray) -> str:
    """Store codes back to letters (soft-masked bases lowercase)."""
    return DECODE_TABLE[np.asarray(codes, dtype=np.uint8)].tobytes().decode("ascii")
