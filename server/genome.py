"""The genome store: one flat file of uint8 base codes per assembly, read as ``np.memmap``.

FASTA (plain or bgzip) --pyfaidx, chunked--> ENCODE_TABLE --> <data_dir>/genomes/<name>.u8

Chromosomes are concatenated in FASTA order with no padding; a chromosome row keeps its
offset and length. Codes are ``peaksql.alphabet``'s (4-bit IUPAC mask, 0x10 = soft-masked),
so every IUPAC letter, N and the case survive. Reading a window afterwards is a slice of a
read-only memmap; the OS page cache is shared by every server process.
"""

from __future__ import annotations

import gzip
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyfaidx
from tqdm import tqdm

from peaksql.alphabet import ENCODE_TABLE, INVALID
from peaksql.errors import InputFileError

#: Bases read from the FASTA per step: bounds ingest memory whatever the genome's size.
CHUNK_BASES = 8 << 20
STORE_SUFFIX = ".u8"


@dataclass(frozen=True)
class ChromosomeRecord:
    name: str
    length: int
    offset: int


def _open_text(path: Path):  # type: ignore[no-untyped-def]
    """Binary line reader of a plain or gzip/bgzip file."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _header_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, sequence name) of every header; used only to explain errors."""
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith(b">"):
                fields = line[1:].split()
                yield number, fields[0].decode("utf-8", "replace") if fields else ""


def _line_of(path: Path, name: str, position: int, line_bases: int) -> int:
    """Line number holding base ``position`` of sequence ``name``."""
    for number, header in _header_lines(path):
        if header == name:
            return number + 1 + position // max(line_bases, 1)
    return 0


def _duplicate_header(path: Path) -> tuple[int, str]:
    seen: set[str] = set()
    for number, name in _header_lines(path):
        if name in seen:
            return number, name
        seen.add(name)
    return 0, ""


def _open_fasta(path: Path, index_dir: Path) -> pyfaidx.Faidx:
    """Index ``path`` with pyfaidx into ``index_dir`` (the FASTA's folder may be read-only)."""
    if not path.is_file():
        raise InputFileError(path, None, "no such file")
    if path.stat().st_size == 0:
        raise InputFileError(path, 1, "empty file: no sequence")
    index = index_dir / (path.name + ".fai")
    kwargs: dict = {"indexname": str(index), "duplicate_action": "stop", "as_raw": True}
    with open(path, "rb") as handle:
        if handle.read(2) == b"\x1f\x8b":
            kwargs["gzi_indexname"] = str(index_dir / (path.name + ".gzi"))
    try:
        return pyfaidx.Faidx(str(path), **kwargs)
    except ValueError as error:
        if "Duplicate key" in str(error):
            line, name = _duplicate_header(path)
            raise InputFileError(path, line, f"duplicate sequence name {name!r}") from None
        raise InputFileError(path, None, f"not a readable FASTA: {error}") from None
    except pyfaidx.UnsupportedCompressionFormat:
        raise InputFileError(
            path, None, "gzip-compressed but not bgzip: recompress with 'bgzip' or gunzip it"
        ) from None
    except (pyfaidx.FastaIndexingError, OSError) as error:
        text = str(error)
        found = re.search(r"line (\d+)", text)
        line = int(found.group(1)) if found else None
        if "does not contain a valid sequence" in text:
            text = "no sequence: sequence lines must follow a '>name' header"
        return_text = re.sub(r"\s*in \S+ at line \d+\.?", "", text)
        raise InputFileError(path, line, return_text) from None


def write_store(fasta: Path, out: Path, *, progress: bool = True) -> list[ChromosomeRecord]:
    """Encode ``fasta`` into the store file ``out`` (atomically) and return its chromosomes."""
    fasta = Path(fasta)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="peaksql-fai-") as index_dir:
        faidx = _open_fasta(fasta, Path(index_dir))
        try:
            records = _encode_all(faidx, fasta, out, progress)
        finally:
            faidx.close()
    return records


def _encode_all(
    faidx: pyfaidx.Faidx, fasta: Path, out: Path, progress: bool
) -> list[ChromosomeRecord]:
    index = faidx.index
    if not index:
        raise InputFileError(fasta, 1, "no sequence: sequence lines must follow a '>name' header")
    total = sum(record.rlen for record in index.values())
    records: list[ChromosomeRecord] = []
    handle, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".partial")
    try:
        with (
            os.fdopen(handle, "wb") as sink,
            tqdm(
                total=total, unit="bp", unit_scale=True, disable=not progress, desc=fasta.name
            ) as bar,
        ):
            offset = 0
            for name, record in index.items():
                for begin in range(0, record.rlen, CHUNK_BASES):
                    end = min(begin + CHUNK_BASES, record.rlen)
                    text = faidx.fetch(name, begin + 1, end)
                    raw = np.frombuffer(str(text).encode("latin-1", "replace"), np.uint8)
                    codes = ENCODE_TABLE[raw]
                    bad = np.flatnonzero(codes == INVALID)
                    if bad.size:
                        position = begin + int(bad[0])
                        letter = chr(raw[bad[0]])
                        line = _line_of(fasta, name, position, record.lenc)
                        raise InputFileError(
                            fasta,
                            line,
                            f"{letter!r} in sequence {name!r} (base {position + 1}) is not an "
                            "IUPAC nucleotide letter (ACGTRYSWKMBDHVN or '-', any case)",
                        )
                    sink.write(codes.tobytes())
                    bar.update(end - begin)
                records.append(ChromosomeRecord(name, record.rlen, offset))
                offset += record.rlen
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return records


class GenomeStore:
    """Read-only memmaps of the store files under ``data_dir``, opened once and shared."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._open: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def store_path(self, assembly: str) -> Path:
        return self.data_dir / "genomes" / f"{assembly}{STORE_SUFFIX}"

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.data_dir))

    def open(self, store_file: str) -> np.ndarray:
        """The whole store file as a read-only uint8 memmap (cached)."""
        with self._lock:
            genome = self._open.get(store_file)
            if genome is None:
                path = self.data_dir / store_file
                if not path.is_file():
                    raise FileNotFoundError(
                        f"genome store file {path} is missing: is --data-dir right?"
                    )
                if path.stat().st_size == 0:
                    genome = np.zeros(0, dtype=np.uint8)
                else:
                    genome = np.memmap(path, dtype=np.uint8, mode="r")
                self._open[store_file] = genome
            return genome

    def fetch(self, store_file: str, offset: int, start: int, end: int) -> np.ndarray:
        """Codes of ``[start, end)`` of the chromosome at ``offset`` (a view, no copy)."""
        return self.open(store_file)[offset + start : offset + end]
