"""Plain or gzip input, told apart by the file's first bytes (never by its name).

Interval files and FASTA files may be gzip-compressed (plain gzip, several members, or
bgzip, a gzip variant that ``gzip`` reads too); ``text_blocks`` opens every input here.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import BinaryIO

#: The first two bytes of every gzip (and bgzip) file.
GZIP_MAGIC = b"\x1f\x8b"


def open_raw_and_decompressed(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(the raw file, a stream of its decompressed bytes): the same object for a plain file.

    The raw file's position tells how far into the file on disk reading has got. OSError if
    the file cannot be opened; the caller closes both.
    """
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    magic = raw.read(len(GZIP_MAGIC))
    raw.seek(0)
    if magic == GZIP_MAGIC:
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw, raw
