"""Write UCSC 2bit files from (name, sequence) pairs, following the format's specification
(https://genome.ucsc.edu/FAQ/FAQformat.html#format7), independently of py2bit (which reads
only)::

    header:   signature 0x1A412743 | version 0 | sequenceCount | reserved 0   (uint32 each)
    index:    per sequence: nameSize (uint8) | name | offset of its record (uint32)
    record:   dnaSize | nBlockCount | nBlockStarts[] | nBlockSizes[]
              | maskBlockCount | maskBlockStarts[] | maskBlockSizes[] | reserved 0
              | packed DNA: 2 bits a base (T=0 C=1 A=2 G=3), first base in the high bits

N runs are N blocks (their packed bases are T); lower-case runs are mask blocks.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from pathlib import Path

_CODE = {"T": 0, "C": 1, "A": 2, "G": 3, "N": 0}


def _runs(pattern: str, sequence: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end() - m.start()) for m in re.finditer(pattern, sequence)]


def _blocks(runs: list[tuple[int, int]]) -> bytes:
    starts = [start for start, _ in runs]
    sizes = [size for _, size in runs]
    return struct.pack(f"<I{len(runs)}I{len(runs)}I", len(runs), *starts, *sizes)


def _record(sequence: str) -> bytes:
    upper = sequence.upper()
    assert set(upper) <= set("ACGTN"), "2bit holds A, C, G, T, N and case only"
    packed = bytearray()
    for i in range(0, len(upper), 4):
        quad = upper[i : i + 4].ljust(4, "T")
        byte = 0
        for base in quad:
            byte = (byte << 2) | _CODE[base]
        packed.append(byte)
    return (
        struct.pack("<I", len(sequence))
        + _blocks(_runs("N+", upper))
        + _blocks(_runs("[a-z]+", sequence))
        + struct.pack("<I", 0)
        + bytes(packed)
    )


def twobit_bytes(records: Iterable[tuple[str, str]]) -> bytes:
    """A complete 2bit file holding ``records`` in order."""
    records = list(records)
    index_size = sum(1 + len(name.encode()) + 4 for name, _ in records)
    offset = 16 + index_size
    index, bodies = b"", b""
    for name, sequence in records:
        body = _record(sequence)
        index += struct.pack("<B", len(name.encode())) + name.encode() + struct.pack("<I", offset)
        bodies += body
        offset += len(body)
    header = struct.pack("<IIII", 0x1A412743, 0, len(records), 0)
    return header + index + bodies


def write_twobit(path: Path, records: Iterable[tuple[str, str]]) -> Path:
    path.write_bytes(twobit_bytes(records))
    return path
