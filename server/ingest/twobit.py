"""UCSC 2bit genomes -> store codes, soft-masking and N blocks kept exactly as in the FASTA.

A 2bit file is told by its magic number (0x1A412743, either byte order), never by its name.
Layout (https://genome.ucsc.edu/FAQ/FAQformat.html#format7): a header, an index of
(name, record offset), then per sequence its length, N blocks, mask (lower-case) blocks and
the bases packed 4 to a byte (T=0 C=1 A=2 G=3, first base in the high bits). Version 1
files use 64-bit offsets.

Read here with numpy rather than through py2bit: py2bit returns an N inside a soft-masked
run as ``N``, where the FASTA (and ``twoBitToFa``) has ``n``; and a chunk is decoded by one
table lookup, its blocks applied by a cumulative sum, with no per-base or per-block Python.
Sequence names follow the FASTA rules (``fasta_reader.check_name``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from peaksql.core.errors import InputFileError
from peaksql.server.catalog.genome_store import ChromosomeRecord
from peaksql.server.ingest.fasta_reader import TRANSLATE_TABLE, check_name, no_bases_error

#: The first four bytes of a 2bit file, as written on little- and big-endian machines.
TWOBIT_MAGICS = {bytes.fromhex("4327411a"): "<", bytes.fromhex("1a412743"): ">"}
#: packed byte -> its 4 bases as upper-case ASCII.
_UNPACK = np.array(
    [[ord("TCAG"[(byte >> shift) & 3]) for shift in (6, 4, 2, 0)] for byte in range(256)],
    dtype=np.uint8,
)


def is_twobit(path: Path) -> bool:
    """Whether ``path`` starts with the 2bit magic number (OSError if it cannot be read)."""
    with open(path, "rb") as handle:
        return handle.read(4) in TWOBIT_MAGICS


class _Reader:
    """Checked reads of a 2bit file: a short read is a truncated file, named as such."""

    def __init__(self, path: Path, handle: BinaryIO) -> None:
        self.path, self.handle = path, handle
        self.size = path.stat().st_size
        self.order = TWOBIT_MAGICS[handle.read(4)]

    def bytes(self, size: int) -> bytes:
        data = self.handle.read(size)
        if len(data) != size:
            raise InputFileError(self.path, None, "truncated 2bit file")
        return data

    def ints(self, count: int, wide: bool = False) -> np.ndarray:
        dtype = np.dtype(f"{self.order}u{8 if wide else 4}")
        if count * dtype.itemsize > self.size:
            raise InputFileError(self.path, None, "corrupt 2bit file (impossible counts)")
        return np.frombuffer(self.bytes(count * dtype.itemsize), dtype).astype(np.int64)


def encode_twobit(
    path: Path,
    write: Callable[[bytes], object],
    chunk_bases: int,
    progress: Callable[[int], object],
) -> list[ChromosomeRecord]:
    """Write the codes of every sequence of the 2bit file ``path``; its records in file order."""
    records: list[ChromosomeRecord] = []
    with open(path, "rb") as handle:
        reader = _Reader(path, handle)
        version, count, _ = reader.ints(3)
        if version not in (0, 1):
            raise InputFileError(path, None, f"unsupported 2bit version {version}")
        names: set[str] = set()
        index = []
        for _ in range(count):
            raw = reader.bytes(reader.bytes(1)[0])
            name = check_name(path, None, raw.decode("utf-8", "replace"), names)
            index.append((name, int(reader.ints(1, wide=version == 1)[0])))
        offset = 0
        for name, position in index:
            length = _encode_record(reader, name, position, write, chunk_bases, progress)
            records.append(ChromosomeRecord(name, length, offset))
            offset += length
    if not records:
        raise InputFileError(path, None, "no sequence: the 2bit file holds none")
    return records


def _encode_record(
    reader: _Reader,
    name: str,
    position: int,
    write: Callable[[bytes], object],
    chunk_bases: int,
    progress: Callable[[int], object],
) -> int:
    """Decode one sequence record chunk by chunk; its length."""
    reader.handle.seek(position)
    length = int(reader.ints(1)[0])
    if length == 0:
        raise no_bases_error(reader.path, None, name)
    n_blocks = _blocks(reader)
    mask_blocks = _blocks(reader)
    reader.ints(1)  # reserved
    dna_start = reader.handle.tell()
    for begin in range(0, length, chunk_bases):
        end = min(begin + chunk_bases, length)
        reader.handle.seek(dna_start + begin // 4)
        packed = np.frombuffer(reader.bytes((end + 3) // 4 - begin // 4), np.uint8)
        bases = _UNPACK[packed].reshape(-1)[begin % 4 : begin % 4 + end - begin]
        bases[_covered(n_blocks, begin, end)] = ord("N")
        bases[_covered(mask_blocks, begin, end)] |= 0x20  # lower case
        write(bases.tobytes().translate(TRANSLATE_TABLE))
        progress(end - begin)
    return length


def _blocks(reader: _Reader) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of a block list (N or mask)."""
    count = int(reader.ints(1)[0])
    starts = reader.ints(count)
    return starts, starts + reader.ints(count)


def _covered(blocks: tuple[np.ndarray, np.ndarray], begin: int, end: int) -> np.ndarray:
    """Boolean mask of the bases of ``[begin, end)`` inside any block (a cumulative sum)."""
    starts, ends = blocks
    delta = np.zeros(end - begin + 1, dtype=np.int32)
    overlap = (starts < end) & (ends > begin)
    np.add.at(delta, np.clip(starts[overlap], begin, end) - begin, 1)
    np.add.at(delta, np.clip(ends[overlap], begin, end) - begin, -1)
    return np.cumsum(delta[:-1]) > 0
