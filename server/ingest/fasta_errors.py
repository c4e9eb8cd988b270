"""Error forensics for bad FASTA input: name the file, the line and the problem.

Only the error path comes here: pyfaidx's messages are translated, and the FASTA is
re-read (decompressed, in blocks) to find the exact line and column of a bad byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyfaidx

from peaksql.core.alphabet import IUPAC_LETTERS
from peaksql.core.errors import InputFileError
from peaksql.server.ingest.compression import open_decompressed

#: Bytes read per step when the error path scans the FASTA for a line number.
_SCAN_BYTES = 16 << 20
#: A byte that cannot appear on a sequence line (a '>' here means the next header).
_NOT_SEQUENCE_BYTE = re.compile(b"[^" + re.escape(IUPAC_LETTERS.encode("ascii")) + b"\r\n]")
_LETTERS_HELP = "an IUPAC nucleotide letter (ACGTRYSWKMBDHVN or '-', any case)"


# --- pyfaidx's errors, and bad bytes, as InputFileError -----------------------------------


def indexing_error(fasta: Path, text: str) -> InputFileError:
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


def irregular_lines_error(fasta: Path, text: str) -> InputFileError:
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


def duplicate_error(fasta: Path, fai: Path) -> InputFileError:
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


def bad_letter_error(fasta: Path, faidx: pyfaidx.Faidx, name: str) -> InputFileError:
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


def bad_letter_up_to(fasta: Path, last_line: int | None) -> InputFileError | None:
    """The first non-letter on a sequence line up to ``last_line``, if any (error path only).

    pyfaidx measures lines in bytes, so a multi-byte character ('é') makes its line look
    longer and pyfaidx blames the *next* line's length; the character is the first problem.
    """
    if last_line is None:
        return None
    name = None
    with open_decompressed(fasta) as handle:
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


def undecodable_error(fasta: Path) -> InputFileError:
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


def _blocks(path: Path, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """(absolute offset, bytes) blocks of the uncompressed file from ``start`` on."""
    with open_decompressed(path) as handle:
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
    with open_decompressed(path) as handle:
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
