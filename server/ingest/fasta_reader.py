"""FASTA text -> store codes in one streaming pass: no index, no temporary copy, flat memory.

Why not pyfaidx: an index needs random access, which plain gzip (UCSC's ``hg38.fa.gz``)
does not give, and its layout rules (equal line lengths) are an indexing constraint, not a
property of the sequence. Streaming the decompressed text (``text_blocks``: gzip, bgzip,
BOM, LF/CRLF/CR) through one ``bytes.translate`` per block encodes at memory speed, reads
the file once and holds a few MiB whatever the genome or its line lengths.

Rules: ``>name description`` starts a record (the name is the header's first word, at most
:data:`MAX_NAME_CHARS` characters, unique); sequence lines hold IUPAC letters (any case, any
line lengths, blank lines ignored); before the first header only blank lines and ``;``
comments. A record without bases, a bad letter, a header line over ``MAX_LINE_BYTES``:
InputFileError naming the file, the line and the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from peaksql.core.alphabet import ENCODE_TABLE, INVALID
from peaksql.core.errors import InputFileError
from peaksql.server.catalog.genome_store import ChromosomeRecord
from peaksql.server.ingest.text_blocks import MAX_LINE_BYTES, clip

#: Longest sequence name: the ``chromosomes.name`` column.
MAX_NAME_CHARS = 255
#: ``bytes.translate`` table: ASCII byte -> store code, INVALID for anything else.
TRANSLATE_TABLE = ENCODE_TABLE.tobytes()
INVALID_CODE = bytes([INVALID])
LETTERS_HELP = "an IUPAC nucleotide letter (ACGTRYSWKMBDHVN or '-', any case)"


@dataclass
class _Open:
    """The record being read: its name, header line and bases so far."""

    name: str
    header_line: int
    length: int = 0


def check_name(path: Path, line: int | None, text: str, names: set[str]) -> str:
    """The sequence name of a header's text (its first word), checked; InputFileError if not."""
    words = text.split()
    if not words:
        raise InputFileError(path, line, "header without a name")
    name = words[0]
    if len(name) > MAX_NAME_CHARS:
        raise InputFileError(
            path,
            line,
            f"sequence name {clip(name, 40)!r} is {len(name):,} characters long "
            f"(at most {MAX_NAME_CHARS})",
        )
    if name in names:
        raise InputFileError(path, line, f"duplicate sequence name {name!r}")
    names.add(name)
    return name


def no_bases_error(path: Path, line: int | None, name: str) -> InputFileError:
    return InputFileError(
        path, line, f"sequence {name!r} has no bases: a '>name' header needs sequence lines"
    )


def describe_char(data: bytes) -> str:
    """The character ``data`` starts with, for a message: ``'x'``, ``'é'`` or ``byte 0xff``."""
    for size in range(1, min(len(data), 4) + 1):
        try:
            return repr(data[:size].decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return f"byte 0x{data[0]:02x}" if data else "end of file"


class FastaEncoder:
    """Feed normalized text blocks (``\\n`` line ends); codes go to ``write`` as they come.

    ``line`` and ``column`` say where the next byte is (1-based line, bytes of its line
    already read), so an error names the exact line and column whatever the block size.
    """

    def __init__(self, path: Path, write: Callable[[bytes], object]) -> None:
        self.path = path
        self.write = write
        self.line = 1
        self.column = 0
        self.records: list[ChromosomeRecord] = []
        self._names: set[str] = set()
        self._open: _Open | None = None
        self._offset = 0
        self._header: bytearray | None = None  # a header line being read
        self._in_comment = False  # before the first header: inside a ';' line

    def feed(self, data: bytes) -> None:
        """Consume one block."""
        position = 0
        while position < len(data):
            if self._header is not None:
                position = self._header_part(data, position)
            elif self.column == 0 and data[position] == ord(">"):
                self._header = bytearray()
                self.column = 1
                position += 1
            else:
                found = data.find(b"\n>", position)
                stop = len(data) if found < 0 else found + 1
                self._sequence(data[position:stop])
                position = stop

    def finish(self) -> list[ChromosomeRecord]:
        """End of input: close the last record; the records in file order."""
        if self._header is not None:
            self._start_record()
        self._close_record()
        if not self.records:
            raise InputFileError(self.path, 1, "no sequence: the file has no '>name' header line")
        return self.records

    def _header_part(self, data: bytes, position: int) -> int:
        assert self._header is not None
        end = data.find(b"\n", position)
        stop = len(data) if end < 0 else end
        if len(self._header) + stop - position > MAX_LINE_BYTES:
            raise InputFileError(
                self.path, self.line, f"header line longer than {MAX_LINE_BYTES:,} bytes"
            )
        self._header += data[position:stop]
        if end < 0:
            self.column += stop - position
            return stop
        self._start_record()
        self.line += 1
        self.column = 0
        return end + 1

    def _start_record(self) -> None:
        assert self._header is not None
        self._close_record()
        try:
            text = self._header.decode("utf-8")
        except UnicodeDecodeError as error:
            char = describe_char(bytes(self._header[error.start : error.start + 4]))
            raise InputFileError(
                self.path, self.line, f"{char} in the header is not UTF-8 text"
            ) from None
        self._header = None
        self._open = _Open(check_name(self.path, self.line, text, self._names), self.line)

    def _close_record(self) -> None:
        record = self._open
        if record is None:
            return
        if record.length == 0:
            raise no_bases_error(self.path, record.header_line, record.name)
        self.records.append(ChromosomeRecord(record.name, record.length, self._offset))
        self._offset += record.length
        self._open = None

    def _sequence(self, chunk: bytes) -> None:
        """Sequence lines (maybe cut mid-line at either end): encode, check, write."""
        if self._open is None:
            self._before_first_header(chunk)
        else:
            codes = chunk.translate(TRANSLATE_TABLE, b"\n")
            if INVALID_CODE in codes:
                raise self._bad_letter(chunk, codes.index(INVALID_CODE))
            self.write(codes)
            self._open.length += len(codes)
        newlines = chunk.count(b"\n")
        self.line += newlines
        self.column = len(chunk) - chunk.rfind(b"\n") - 1 if newlines else self.column + len(chunk)

    def _bad_letter(self, chunk: bytes, index: int) -> InputFileError:
        """The error for the ``index``-th non-newline byte of ``chunk`` (error path only)."""
        assert self._open is not None
        position = int(np.flatnonzero(np.frombuffer(chunk, np.uint8) != ord("\n"))[index])
        line, column = self._locate(chunk, position)
        char = describe_char(chunk[position : position + 4])
        return InputFileError(
            self.path,
            line,
            f"{char} (column {column}) in sequence {self._open.name!r} is not {LETTERS_HELP}",
        )

    def _locate(self, chunk: bytes, position: int) -> tuple[int, int]:
        """1-based (line, column) of byte ``position`` of ``chunk``."""
        last = chunk.rfind(b"\n", 0, position)
        column = position - last if last >= 0 else self.column + position + 1
        return self.line + chunk.count(b"\n", 0, position), column

    def _before_first_header(self, chunk: bytes) -> None:
        """Only blank lines and ';' comments may come before the first header."""
        start = 0
        for piece in chunk.split(b"\n"):
            at_line_start = start > 0 or self.column == 0
            if at_line_start:
                self._in_comment = piece.startswith(b";")
            if not self._in_comment and piece.strip():
                line, _ = self._locate(chunk, start)
                binary = b"\0" in piece or not _is_utf8(piece)
                problem = (
                    "binary data before the first '>name' header: is this a FASTA file?"
                    if binary
                    else "text before the first '>name' header (comment lines start with ';')"
                )
                raise InputFileError(self.path, line, problem)
            start += len(piece) + 1


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.reason == "unexpected end of data"  # a character cut by the block end
    return True
