"""Blocks of an input file's text as labs have it: plain, gzip or bgzip; BOM; LF, CRLF or CR.

Both the FASTA reader and the interval reader (``lines``) read their files here, so both
accept the same inputs and fail the same way:

* gzip (any: bgzip or plain ``gzip``, several members) is told by the magic bytes and
  streamed; a truncated or corrupt stream is one :class:`InputFileError` naming the file.
* A UTF-8 byte order mark at the start is dropped.
* ``\\r\\n`` and a lone ``\\r`` (old Mac files) become ``\\n``, so line numbers count what an
  editor shows. A ``\\r`` at the end of a block waits for the next block's first byte.
* Blocks are a few MiB whatever the file's lines: memory stays flat on any input.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from peaksql.core.errors import InputFileError
from peaksql.server.ingest.compression import open_raw_and_decompressed

#: Bytes read (decompressed) per block.
BLOCK_BYTES = 1 << 22
#: Longest line of text accepted (a FASTA header, an interval line): 1 MiB. Refused as soon
#: as the bound is passed, without reading the rest of the line.
MAX_LINE_BYTES = 1 << 20
#: Characters of input echoed in an error message.
ECHO_CHARS = 200

_BOM = b"\xef\xbb\xbf"
#: The 28-byte empty block that ends every complete BGZF (bgzip) file.
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_DECOMPRESSION_ERRORS = (EOFError, zlib.error, struct.error)


def clip(text: str, limit: int = ECHO_CHARS) -> str:
    """``text`` for an error message: at most ``limit`` characters, then how many more."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def normalized_blocks(path: Path, block_bytes: int | None = None) -> Iterator[tuple[bytes, int]]:
    """Yield (text block with ``\\n`` line ends only, bytes of the file on disk read so far).

    ``block_bytes`` defaults to :data:`BLOCK_BYTES` (read at call time, so tests may shrink it).

    Raises InputFileError for an unreadable file, a truncated or corrupt gzip stream, and a
    bgzip file whose end-of-file block is missing (truncated at a block boundary).
    """
    block_bytes = block_bytes or BLOCK_BYTES
    raw, stream = _open(path)
    carry = b""
    first = True
    with raw, stream:
        while True:
            block = _read(path, stream, block_bytes)
            end_of_file = not block
            if first:
                first = False
                if block.startswith(_BOM):
                    block = block[len(_BOM) :]
            data = carry + block
            carry = b""
            if data.endswith(b"\r") and not end_of_file:
                data, carry = data[:-1], b"\r"
            if b"\r" in data:
                data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if data:
                yield data, raw.tell()
            if end_of_file:
                break
    if stream is not raw:
        _check_bgzf_end(path)


def _open(path: Path) -> tuple:
    """(raw file, decompressed stream); InputFileError when the file cannot be opened."""
    if not path.is_file():
        raise InputFileError(path, None, "no such file" if not path.exists() else "not a file")
    try:
        return open_raw_and_decompressed(path)
    except OSError as error:
        raise InputFileError(path, None, f"cannot read the file: {error.strerror}") from None


def _read(path: Path, stream: BinaryIO, size: int) -> bytes:
    """One block of decompressed bytes; decompression and read errors as InputFileError."""
    try:
        return stream.read(size)
    except _DECOMPRESSION_ERRORS as error:
        state = "truncated" if isinstance(error, EOFError) else "corrupt"
        problem = f"cannot decompress it: the gzip data is {state} ({clip(str(error), 120)})"
        raise InputFileError(path, None, problem) from None
    except OSError as error:
        if error.errno is None:  # gzip.BadGzipFile and friends carry no errno
            problem = f"cannot decompress it: the gzip data is corrupt ({clip(str(error), 120)})"
            raise InputFileError(path, None, problem) from None
        raise InputFileError(path, None, f"cannot read the file: {error.strerror}") from None


def _check_bgzf_end(path: Path) -> None:
    """A bgzip file cut at a block boundary decompresses cleanly: its EOF block tells."""
    with open(path, "rb") as handle:
        header = handle.read(16)
        if not (len(header) >= 14 and header[3] & 0x04 and header[12:14] == b"BC"):
            return  # plain gzip: no end marker to check
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(size - len(BGZF_EOF), 0))
        if handle.read() != BGZF_EOF:
            raise InputFileError(
                path, None, "truncated bgzip file: the BGZF end-of-file block is missing"
            )
