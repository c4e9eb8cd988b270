"""FASTA (plain or bgzip) -> genome store file: the write side of ``catalog.genome_store``.

FASTA --pyfaidx, chunked--> ENCODE_TABLE --> <data_dir>/genomes/<name>.u8 (the byte layout
is described in ``peaksql.server.catalog.genome_store``, which reads these files).

Ingest memory is bounded by ``CHUNK_BASES`` whatever the genome's size. pyfaidx's errors
become ``InputFileError`` naming the line (see ``fasta_errors``).
"""

from __future__ import annotations

import os
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pyfaidx
from tqdm import tqdm

from peaksql.core.alphabet import ENCODE_TABLE, INVALID
from peaksql.core.errors import InputFileError
from peaksql.server.catalog.genome_store import ChromosomeRecord
from peaksql.server.ingest import fasta_errors
from peaksql.server.ingest.compression import is_gzip

#: Bases read from the FASTA per step: ingest holds about 4 copies of a chunk (text, bytes,
#: codes), ~4 MiB whatever the genome's size; larger chunks are no faster.
CHUNK_BASES = 1 << 20
_COMPRESSED_SUFFIXES = (".gz", ".bgz")  # the suffixes pyfaidx opens through Bio.bgzf


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
        raise fasta_errors.bad_letter_error(fasta, faidx, name) from None
    raw = np.frombuffer(text.encode("latin-1", "replace"), np.uint8)
    codes = ENCODE_TABLE[raw]
    if raw.size != end - begin or (codes == INVALID).any():
        raise fasta_errors.bad_letter_error(fasta, faidx, name)
    return codes


# --- indexing with pyfaidx, its errors translated into InputFileError ----------------------


def _index_fasta(fasta: Path, index_dir: Path) -> pyfaidx.Faidx:
    """Index ``fasta`` with pyfaidx, writing .fai/.gzi into ``index_dir``.

    pyfaidx chooses bgzip or plain text by the file's suffix; we choose by its first bytes,
    giving pyfaidx a link with the matching suffix when the two disagree.
    """
    source, compressed = fasta, is_gzip(fasta)
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
        raise fasta_errors.undecodable_error(fasta) from None
    except ValueError as error:
        if str(error).startswith("Duplicate key"):
            raise fasta_errors.duplicate_error(fasta, index_dir / "input.fai") from None
        raise InputFileError(fasta, None, f"not a readable FASTA file: {error}") from None
    except pyfaidx.FastaIndexingError as error:
        layout_error = fasta_errors.indexing_error(fasta, str(error))
        raise fasta_errors.bad_letter_up_to(fasta, layout_error.line) or layout_error from None
    except RuntimeError as error:  # pyfaidx's "unhandled" layouts: several blank/short lines
        layout_error = fasta_errors.irregular_lines_error(fasta, str(error))
        raise fasta_errors.bad_letter_up_to(fasta, layout_error.line) or layout_error from None
    except (OSError, EOFError, zlib.error) as error:
        text = str(error)
        if "EOF marker" in text:
            text = "truncated bgzip file: the BGZF end-of-file block is missing"
        elif "may not be writable" in text:  # pyfaidx's wording for any read error
            text = "read error while indexing (a corrupt or truncated compressed file?)"
        raise InputFileError(fasta, None, f"cannot read it as FASTA: {text}") from None
