"""UCSC 2bit genomes -> store codes, read with py2bit (lib2bit), soft-masking and N kept.

A 2bit file is told by its magic number (0x1A412743, either byte order), never by its name.
py2bit returns soft-masked bases in lower case and N blocks as ``N`` when opened with
``storeMasked``, so a 2bit genome and the FASTA it was made from give the same store file.
Sequence names follow the FASTA rules (``fasta_reader.check_name``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from peaksql.core.errors import InputFileError
from peaksql.server.catalog.genome_store import ChromosomeRecord
from peaksql.server.ingest.fasta_reader import (
    INVALID_CODE,
    TRANSLATE_TABLE,
    check_name,
    no_bases_error,
)

#: The first four bytes of a 2bit file, as written on little- and big-endian machines.
TWOBIT_MAGICS = (bytes.fromhex("4327411a"), bytes.fromhex("1a412743"))


def is_twobit(path: Path) -> bool:
    """Whether ``path`` starts with the 2bit magic number (OSError if it cannot be read)."""
    with open(path, "rb") as handle:
        return handle.read(4) in TWOBIT_MAGICS


def encode_twobit(
    path: Path,
    write: Callable[[bytes], object],
    chunk_bases: int,
    progress: Callable[[int], object],
) -> list[ChromosomeRecord]:
    """Write the codes of every sequence of the 2bit file ``path``; its records in file order."""
    try:
        import py2bit
    except ImportError:  # pragma: no cover - a server install has it
        raise InputFileError(
            path, None, "a 2bit file needs the py2bit package: pip install py2bit"
        ) from None
    try:
        genome = py2bit.open(str(path), True)
    except (RuntimeError, OSError) as error:
        raise InputFileError(path, None, f"not a readable 2bit file: {error}") from None
    if genome is None:
        raise InputFileError(path, None, "not a readable 2bit file")
    records: list[ChromosomeRecord] = []
    names: set[str] = set()
    offset = 0
    try:
        for name, length in genome.chroms().items():
            check_name(path, None, name, names)
            if length == 0:
                raise no_bases_error(path, None, name)
            for begin in range(0, length, chunk_bases):
                end = min(begin + chunk_bases, length)
                codes = _sequence(genome, path, name, begin, end).translate(TRANSLATE_TABLE)
                if INVALID_CODE in codes or len(codes) != end - begin:
                    raise InputFileError(path, None, f"sequence {name!r} could not be read")
                write(codes)
                progress(end - begin)
            records.append(ChromosomeRecord(name, length, offset))
            offset += length
    finally:
        genome.close()
    return records


def _sequence(genome: object, path: Path, name: str, begin: int, end: int) -> bytes:
    try:
        return genome.sequence(name, begin, end).encode("ascii")  # type: ignore[attr-defined]
    except (RuntimeError, OSError, UnicodeEncodeError) as error:
        raise InputFileError(
            path, None, f"sequence {name!r} could not be read (truncated 2bit file?): {error}"
        ) from None
