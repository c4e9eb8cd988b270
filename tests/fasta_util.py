"""Write FASTA test files: plain text and BGZF (bgzip), the latter with zlib alone.

BGZF layout (SAM spec §4.1), one gzip member per block of at most 64 KiB of text::

    1f 8b 08 04 | mtime 00000000 | xfl 00 | os ff | xlen 0600
    'B' 'C' | slen 0200 | bsize-1 (uint16) | raw deflate data | crc32 | isize

followed by the fixed 28-byte empty block that marks the end of the file. Written here
rather than with Bio.bgzf, which is what pyfaidx reads with: the oracle stays independent.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_BLOCK_TEXT = 60_000  # text per block: its deflate output stays under the 64 KiB limit


def fasta_text(
    records: Iterable[tuple[str, str]], line_width: int | Iterable[int] = 60, newline: str = "\n"
) -> str:
    """FASTA text of (name, sequence) pairs; one line width for all, or one per record."""
    records = list(records)
    widths = [line_width] * len(records) if isinstance(line_width, int) else list(line_width)
    parts = []
    for (name, sequence), width in zip(records, widths, strict=True):
        parts.append(f">{name}{newline}")
        for i in range(0, len(sequence), width):
            parts.append(sequence[i : i + width] + newline)
    return "".join(parts)


def bgzf_block(data: bytes) -> bytes:
    """One BGZF block holding ``data`` (at most 64 KiB)."""
    assert len(data) <= 0x10000
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = compressor.compress(data) + compressor.flush()
    block_size = 18 + len(deflated) + 8
    header = b"\x1f\x8b\x08\x04" + b"\0\0\0\0" + b"\x00\xff" + struct.pack("<H", 6)
    subfield = b"BC" + struct.pack("<HH", 2, block_size - 1)
    trailer = struct.pack("<II", zlib.crc32(data), len(data))
    return header + subfield + deflated + trailer


def bgzf_bytes(data: bytes) -> bytes:
    """``data`` compressed as a complete BGZF file (blocks plus the EOF block)."""
    blocks = [bgzf_block(data[i : i + _BLOCK_TEXT]) for i in range(0, len(data), _BLOCK_TEXT)]
    return b"".join(blocks) + BGZF_EOF


def write_fasta(path: Path, text: str | bytes, *, bgzip: bool = False) -> Path:
    """Write FASTA ``text`` to ``path``, bgzip-compressed when asked."""
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(bgzf_bytes(data) if bgzip else data)
    return path
