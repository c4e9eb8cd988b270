"""The genome store: one flat file of uint8 base codes per assembly, read as ``np.memmap``.

FASTA (plain or bgzip) --pyfaidx, chunked--> ENCODE_TABLE --> <data_dir>/genomes/<name>.u8

Byte layout of a store file (no header, no padding, chromosomes in FASTA order)::

    offset 0                 offset = len(chr1)          offset = len(chr1) + len(chr2)
    | chr1 codes ...         | chr2 codes ...            | chr3 codes ...          |

One byte per base: ``peaksql.core.alphabet``'s 4-bit IUPAC mask in the low nibble and 0x10 where
the letter was lowercase (soft-masked), so every IUPAC letter, N, '-' and the case survive.
A chromosome row keeps its ``offset`` and ``length``; reading a window afterwards is a slice
of a read-only memmap, and the OS page cache is shared by every server process.

Ingest memory is bounded by ``CHUNK_BASES`` whatever the genome's size. Error reports
re-read the FASTA (only on the error path) to name the exact line of the problem.
"""

from __future__ import annotations

import gzip
import os
import re
import tempfile
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyfaidx
from tqdm import tqdm

from peaksql.core.alphabet import ENCODE_TABLE, INVALID, IUPAC_LETTERS
from peaksql.core.errors import InputFileError

#: Bases read from the FASTA per step: ingest holds about 4 copies of a chunk (text, bytes,
#: codes), ~4 MiB whatever the genome's size; larger chunks are no faster.
CHUNK_BASES = 1 << 20
#: Bytes read per step when the error path scans the FASTA for a line number.
_SCAN_BYTES = 16 << 20
STORE_SUFFIX = ".u8"
_GZIP_MAGIC = b"\x1f\x8b"
_COMPRESSED_SUFFIXES = (".gz", ".bgz")  # the suffixes pyfaidx opens through Bio.bgzf
#: A byte that cannot appear on a sequence line (a '>' here means the next header).
_NOT_SEQUENCE_BYTE = re.compile(b"[^" + re.escape(IUPAC_LETTERS.encode("ascii")) + b"\r\n]")
_LETTERS_HELP = "an IUPAC nucleotide letter (ACGTRYSWKMBDHVN or '-', any case)"


@dataclass(frozen=True)
class ChromosomeRecord:
    """One chromosome of a store file: its bases are ``store[offset : offset + length]``."""

    name: str
    length: int
    offset: int


def write_store(fasta: Path, out: Path, *, progress: bool = True) -> list[ChromosomeRecord]:
    """Encode ``fasta`` (plain or bgzip) into the store file ``out`` and return its chromosomes.

    ``out`` appears complete or not at all: the codes go to a temporary file beside it that is
    renamed at the end. The FASTA's folder is never written to (the index lives in a temporary
    folder). Bad input raises ``InputFileError`` naming the file, the line and the problem.
    """
    fasta = Path(fasta)
    out = Path(out)
    if not fasta.is_file():
        raise InputFileError(fasta, None, "no such file")
    if fasta.stat().st_size == 0:
        raise InputFileError(fasta, 1, "empty file: no sequence and no '>name' header")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="peaksql-fai-") as index_dir:
        faidx = _index_fasta(fasta, Path(index_dir))
        try:
            return _encode_all(faidx, fasta, out, progress)
        finally:
            faidx.close()


def _encode_all(
    faidx: pyfaidx.Faidx, fasta: Path, out: Path, progress: bool
) -> list[ChromosomeRecord]:
    """Stream every sequence through ENCODE_TABLE into a temporary file, then rename it."""
    total = sum(record.rlen for record in faidx.index.values())
    records: list[ChromosomeRecord] = []
    handle, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    try:
        with (
            os.fdopen(handle, "wb") as sink,
            tqdm(
                total=total, unit="bp", unit_scale=True, disable=not progress, desc=fasta.name
            ) as bar,
        ):
            offset = 0
            for name, record in faidx.index.items():
                for begin in range(0, record.rlen, CHUNK_BASES):
                    end = min(begin + CHUNK_BASES, record.rlen)
                    sink.write(_encode_chunk(faidx, fasta, name, begin, end))
                    bar.update(end - begin)
                records.append(ChromosomeRecord(name, record.rlen, offset))
                offset += record.rlen
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes it 0600; servers may run as another user
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return records


def _encode_chunk(faidx: pyfaidx.Faidx, fasta: Path, name: str, begin: int, end: int) -> np.ndarray:
    """Store codes of bases ``[begin, end)`` of ``name``; vectorised, no per-base Python."""
    try:
        text = faidx.from_file(name, begin + 1, end)
    except UnicodeDecodeError:  # a multi-byte character cut by the chunk boundary
        raise _bad_letter_error(fasta, faidx, name) from None
    raw = np.frombuffer(text.encode("latin-1", "replace"), np.uint8)
    codes = ENCODE_TABLE[raw]
    if raw.size != end - begin or (codes == INVALID).any():
        raise _bad_letter_error(fasta, faidx, name)
    return codes


# --- indexing with pyfaidx, its errors translated into InputFileError ----------------------


def _index_fasta(fasta: Path, index_dir: Path) -> pyfaidx.Faidx:
    """Index ``fasta`` with pyfaidx, writing .fai/.gzi into ``index_dir``.

    pyfaidx chooses bgzip or plain text by the file's suffix; we choose by its first bytes,
    giving pyfaidx a link with the matching suffix when the two disagree.
    """
    source, compressed = fasta, _is_gzip(fasta)
    if compressed != fasta.name.lower().endswith(_COMPRESSED_SUFFIXES):
        source = index_dir / ("input.gz" if compressed else "input.txt")
        os.symlink(fasta.resolve(), source)
    try:
        return pyfaidx.Faidx(
            str(source),
            indexname=str(index_dir / "input.fai"),
            gzi_indexname=str(index_dir / "input.gzi"),
            as_raw=True,
            duplicate_action="stop",
        )
    except pyfaidx.UnsupportedCompressionFormat:
        raise InputFileError(
            fasta, None, "gzip-compressed but not bgzip: recompress it with 'bgzip' or gunzip it"
        ) from None
    except UnicodeDecodeError:
        raise _undecodable_error(fasta) from None
    except ValueError as error:
        if str(error).startswith("Duplicate key"):
            raise _duplicate_error(fasta, index_dir / "input.fai") from None
        raise InputFileError(fasta, None, f"not a readable FASTA file: {error}") from None
    except pyfaidx.FastaIndexingError as error:
        layout_error = _indexing_error(fasta, str(error))
        raise _bad_letter_up_to(fasta, layout_error.line) or layout_error from None
    except RuntimeError as error:  # pyfaidx's "unhandled" layouts: several blank/short lines
        layout_error = _irregular_lines_error(fasta, str(error))
        raise _bad_letter_up_to(fasta, layout_error.line) or layout_error from None
    except (OSError, EOFError, zlib.error) as error:
        text = str(error)
        if "EOF marker" in text:
            text = "truncated bgzip file: the BGZF end-of-file block is missing"
        elif "may not be writable" in text:  # pyfaidx's wording for any read error
            text = "read error while indexing (a corrupt or truncated compressed file?)"
        raise InputFileError(fasta, None, f"cannot read it as FASTA: {text}") from None


def _indexing_error(fasta: Path, text: str) -> InputFileError:
    """Translate pyfaidx's FastaIndexingError (line numbers in its message) into ours."""
    found = re.search(r"at line ([\d,.]+)", text)
    line = int(re.sub(r"\D", "", found.group(1))) if found else None
    if "Bad sequence name" in text:  # pyfaidx counts this one from 0
        return InputFileError(fasta, None if line is None else line + 1, "header without a name")
    if "before the first sequence" in text:
        return InputFileError(
            fasta, line, "text before the first '>name' header (comment lines start with ';')"
        )
    if "not consistent" in text:
        entry = re.search(r"in >(\S+) at line", text)
        name = entry.group(1) if entry else "?"
        return InputFileError(
            fasta,
            line,
            f"line length differs in sequence {name!r}: every line of a sequence but its last "
            "must hold the same number of bases",
        )
    if "does not contain a valid sequence" in text:
        return InputFileError(fasta, 1, "no sequence: the file has no '>name' header line")
    return InputFileError(fasta, line, f"malformed FASTA: {text}")


def _irregular_lines_error(fasta: Path, text: str) -> InputFileError:
    entry = re.search(r"at entry (.*?)Please", text)
    first_bad = re.search(r"\[\((\d+),", text)
    line = int(first_bad.group(1)) + 1 if first_bad else None
    name = entry.group(1) if entry else "?"
    return InputFileError(
        fasta,
        line,
        f"blank or short lines inside sequence {name!r}: only a sequence's last line may be "
        "shorter, followed by at most one blank line",
    )


def _duplicate_error(fasta: Path, fai: Path) -> InputFileError:
    """Name the second header of a repeated sequence name (found through the .fai offsets)."""
    seen: set[str] = set()
    for row in fai.read_text().splitlines():
        name, _length, offset, *_ = row.split("\t")
        if name in seen:
            # the .fai offset is the byte after the header line; offset - 1 is on the header
            line, _column = _line_and_column(fasta, int(offset) - 1)
            return InputFileError(fasta, line, f"duplicate sequence name {name!r}")
        seen.add(name)
    return InputFileError(fasta, None, "duplicate sequence name")


def _bad_letter_error(fasta: Path, faidx: pyfaidx.Faidx, name: str) -> InputFileError:
    """Locate the first byte of sequence ``name`` that is not a letter, by scanning its lines."""
    position = _first_match(fasta, _NOT_SEQUENCE_BYTE, faidx.index[name].offset)
    if position is None:
        return InputFileError(fasta, None, f"sequence {name!r} could not be read consistently")
    line, column = _line_and_column(fasta, position)
    if column == 1 and _byte_at(fasta, position) == b">":  # reached the next header
        return InputFileError(fasta, line - 1, f"sequence {name!r} could not be read consistently")
    return InputFileError(
        fasta,
        line,
        f"{_char_at(fasta, position)} (column {column}) in sequence {name!r} is not "
        + _LETTERS_HELP,
    )


def _bad_letter_up_to(fasta: Path, last_line: int | None) -> InputFileError | None:
    """The first non-letter on a sequence line up to ``last_line``, if any (error path only).

    pyfaidx measures lines in bytes, so a multi-byte character ('é') makes its line look
    longer and pyfaidx blames the *next* line's length; the character is the first problem.
    """
    if last_line is None:
        return None
    name = None
    with _open_bytes(fasta) as handle:
        for number, text in enumerate(handle, 1):
            if number > last_line:
                break
            if text.startswith(b">"):
                name = (text[1:].decode("utf-8", "replace").split() or [""])[0]
                continue
            found = _NOT_SEQUENCE_BYTE.search(text) if name is not None else None
            if found:
                return InputFileError(
                    fasta,
                    number,
                    f"{_describe_char(text[found.start() : found.start() + 4])} (column "
                    f"{found.start() + 1}) in sequence {name!r} is not " + _LETTERS_HELP,
                )
    return None


def _undecodable_error(fasta: Path) -> InputFileError:
    position = _first_undecodable(fasta)
    if position is None:
        return InputFileError(fasta, None, "not UTF-8/ASCII text: is this a FASTA file?")
    line, column = _line_and_column(fasta, position)
    return InputFileError(
        fasta,
        line,
        f"{_char_at(fasta, position)} (column {column}) is not ASCII text: is this a FASTA file?",
    )


# --- the FASTA's uncompressed bytes, scanned only to explain an error ---------------------


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def _open_bytes(path: Path) -> BinaryIO:
    """The uncompressed bytes of a plain, gzip or bgzip file (offsets as in the .fai)."""
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")  # type: ignore[return-value]


def _blocks(path: Path, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """(absolute offset, bytes) blocks of the uncompressed file from ``start`` on."""
    with _open_bytes(path) as handle:
        handle.seek(start)
        offset = start
        while block := handle.read(_SCAN_BYTES):
            yield offset, block
            offset += len(block)


def _first_match(path: Path, pattern: re.Pattern[bytes], start: int) -> int | None:
    """Offset of the first byte at or after ``start`` that matches a one-byte ``pattern``."""
    for offset, block in _blocks(path, start):
        found = pattern.search(block)
        if found:
            return offset + found.start()
    return None


def _first_undecodable(path: Path) -> int | None:
    """Offset of the first byte that is not valid UTF-8."""
    pending, end = b"", 0
    for offset, block in _blocks(path):
        end = offset + len(block)
        data = pending + block
        try:
            data.decode("utf-8")
            pending = b""
        except UnicodeDecodeError as error:
            if error.reason == "unexpected end of data" and len(data) - error.start < 4:
                pending = data[error.start :]  # a character cut by the block boundary
                continue
            return offset - len(pending) + error.start
    return end - len(pending) if pending else None


def _line_and_column(path: Path, position: int) -> tuple[int, int]:
    """1-based line and column of the uncompressed byte at ``position``."""
    newlines, line_start = 0, 0
    for offset, block in _blocks(path):
        part = block[: max(position - offset, 0)]
        newlines += part.count(b"\n")
        last = part.rfind(b"\n")
        if last >= 0:
            line_start = offset + last + 1
        if offset + len(block) > position:
            break
    return newlines + 1, position - line_start + 1


def _byte_at(path: Path, position: int, size: int = 1) -> bytes:
    with _open_bytes(path) as handle:
        handle.seek(position)
        return handle.read(size)


def _char_at(path: Path, position: int) -> str:
    """The character at ``position`` for a message: ``'x'``, ``'é'`` or ``byte 0xff``."""
    return _describe_char(_byte_at(path, position, 4))


def _describe_char(data: bytes) -> str:
    """The character ``data`` starts with, for a message (see ``_char_at``)."""
    for size in range(1, len(data) + 1):
        try:
            return repr(data[:size].decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return f"byte 0x{data[0]:02x}" if data else "end of file"


# --- reading ------------------------------------------------------------------------------


class GenomeStore:
    """Read-only memmaps of the store files under ``data_dir``, opened once and shared.

    A cached map is reused while the file on disk is the same one (device, inode, size,
    mtime): an assembly removed and added again under the same name is mapped afresh.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._maps: dict[str, tuple[tuple[int, int, int, int], np.ndarray]] = {}
        self._lock = threading.Lock()

    def store_path(self, assembly: str) -> Path:
        """Where the store file of ``assembly`` lives."""
        return self.data_dir / "genomes" / f"{assembly}{STORE_SUFFIX}"

    def relative(self, path: Path) -> str:
        """``path`` as kept in ``assemblies.store_file``: relative to the data dir, '/'."""
        return Path(path).relative_to(self.data_dir).as_posix()

    def open(self, store_file: str) -> np.ndarray:
        """The whole store file as a read-only uint8 memmap (cached, thread-safe)."""
        path = self.data_dir / store_file
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"genome store file {path} is missing: is --data-dir right?"
            ) from None
        identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            cached = self._maps.get(store_file)
            if cached is not None and cached[0] == identity:
                return cached[1]
            if stat.st_size == 0:  # mmap cannot map an empty file
                genome = np.zeros(0, dtype=np.uint8)
                genome.flags.writeable = False
            else:
                genome = np.memmap(path, dtype=np.uint8, mode="r")
            self._maps[store_file] = (identity, genome)
            return genome

    def fetch(self, store_file: str, offset: int, start: int, end: int) -> np.ndarray:
        """Codes of ``[start, end)`` of the chromosome at ``offset`` (a view, no copy)."""
        return self.open(store_file)[offset + start : offset + end]
