"""Bytes of an interval file -> numbered data rows, tab-separated; no format knowledge.

* Files are read through ``text_blocks``: plain, gzip or bgzip (told by the magic bytes,
  not the name), a UTF-8 byte order mark dropped, LF, CRLF or CR line ends; text must be
  UTF-8. A line longer than ``MAX_LINE_BYTES`` is refused as soon as the bound is passed.
* Blank lines and lines starting with ``#``, ``track`` or ``browser`` are skipped.
* Fields are separated by tabs. A line without any tab is split on runs of whitespace instead,
  because many tools write BED with spaces; a tab-separated line keeps spaces inside fields
  (a name such as ``my peak``). Trailing whitespace is dropped.

Blocks of a few MiB are read and decoded at once; only skipping comment lines is per line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from peaksql.core.errors import InputFileError
from peaksql.server.ingest.text_blocks import MAX_LINE_BYTES, normalized_blocks

_SKIPPED_PREFIXES = ("#", "track", "browser")


def data_rows(path: Path) -> Iterator[tuple[list[str], list[int], int]]:
    """Yield (rows, their 1-based line numbers, bytes of the file read so far) per block.

    Each row is one data line with its fields joined by single tabs; skipped lines are gone.
    The byte count is of the file on disk (compressed bytes for gzip), for progress bars.
    """
    for first_line, block, offset in _numbered_blocks(path):
        rows: list[str] = []
        numbers: list[int] = []
        for number, text in enumerate(block, first_line):
            text = text.rstrip()
            if not text or text.startswith(_SKIPPED_PREFIXES):
                continue
            rows.append(text if "\t" in text else "\t".join(text.split()))
            numbers.append(number)
        yield rows, numbers, offset


def _numbered_blocks(path: Path) -> Iterator[tuple[int, list[str], int]]:
    """Yield (number of the first line, lines, bytes of the file read so far) per block.

    Blocks of a few MiB, cut after their last newline, are decoded at once (per-line decoding
    would cost more than the parsing). NUL bytes or invalid UTF-8 mean the file is not text.
    """
    first_line = 1
    pending = b""
    offset = 0
    for block, offset in normalized_blocks(path):
        data = pending + block
        cut = data.rfind(b"\n") + 1
        data, pending = data[:cut], data[cut:]
        if len(pending) > MAX_LINE_BYTES:
            _too_long(path, first_line + data.count(b"\n"))
        if data:
            _check_line_lengths(data, first_line, path)
            yield first_line, _decode_lines(data, first_line, path), offset
            first_line += data.count(b"\n")
    if pending:
        yield first_line, _decode_lines(pending, first_line, path), offset


def _too_long(path: Path, line: int) -> None:
    raise InputFileError(
        path, line, f"line longer than {MAX_LINE_BYTES:,} bytes: is this an interval file?"
    )


def _check_line_lengths(data: bytes, first_line: int, path: Path) -> None:
    """Refuse a line over the bound inside a block (vectorised over the newline positions)."""
    if len(data) <= MAX_LINE_BYTES:
        return
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))
    lengths = np.diff(ends, prepend=-1) - 1
    if lengths.max(initial=0) > MAX_LINE_BYTES:
        _too_long(path, first_line + int(np.argmax(lengths > MAX_LINE_BYTES)))


def _decode_lines(data: bytes, first_line: int, path: Path) -> list[str]:
    """The lines of ``data`` (complete lines, except maybe at the end of the file)."""
    if b"\x00" in data:
        line = first_line + data.count(b"\n", 0, data.index(b"\x00"))
        raise InputFileError(path, line, "not a text file (it contains a NUL byte)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = first_line + data.count(b"\n", 0, error.start)
        raise InputFileError(
            path, line, f"not a text file (byte 0x{data[error.start]:02x} is not UTF-8)"
        ) from error
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines
