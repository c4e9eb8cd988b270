"""A genome file -> store file: the write side of ``catalog.genome_store``.

FASTA (plain, gzip or bgzip) --fasta_reader, streamed--> codes --> store file
2bit (by its magic bytes)    --twobit, chunked-------->

The byte layout is described in ``peaksql.server.catalog.genome_store``, which reads these
files. Memory is a few MiB whatever the genome's size (blocks of ``text_blocks``, or
``CHUNK_BASES`` bases of a 2bit file). Bad input raises ``InputFileError`` (file, line,
problem); a failed write (disk full, ...) raises ``WriteError`` naming both files.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from peaksql.core.errors import InputFileError
from peaksql.server.catalog.genome_store import ChromosomeRecord
from peaksql.server.ingest import text_blocks
from peaksql.server.ingest.fasta_reader import FastaEncoder
from peaksql.server.ingest.scratch import WriteError
from peaksql.server.ingest.twobit import encode_twobit, is_twobit

#: Bases of a 2bit sequence read per step.
CHUNK_BASES = 1 << 22


def write_store(genome: Path, out: Path, *, progress: bool = True) -> list[ChromosomeRecord]:
    """Encode ``genome`` (FASTA or 2bit) into the store file ``out``; return its chromosomes.

    ``out`` appears complete or not at all: the codes go to a temporary file beside it that is
    renamed at the end (callers put ``out`` in a scratch folder of the data dir, see
    ``scratch``). Nothing is written beside the input.
    """
    genome, out = Path(genome), Path(out)
    if not genome.is_file():
        raise InputFileError(genome, None, "no such file" if not genome.exists() else "not a file")
    if genome.stat().st_size == 0:
        raise InputFileError(genome, 1, "empty file: no sequence and no '>name' header")
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as sink:
            records = _encode(genome, partial(_write_codes, sink), progress)
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes it 0600; servers may run as another user
        os.replace(tmp_name, out)
    except OSError as error:
        Path(tmp_name).unlink(missing_ok=True)
        raise WriteError(genome, Path(tmp_name), error) from error
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return records


def _write_codes(sink: BinaryIO, codes: bytes) -> None:
    """The one place store bytes are written (a failure here is a WriteError)."""
    sink.write(codes)


def _encode(genome: Path, write: Callable[[bytes], None], progress: bool) -> list[ChromosomeRecord]:
    """Stream the codes of ``genome`` to ``write``, showing a progress bar if asked."""
    twobit = is_twobit(genome)
    with tqdm(
        total=None if twobit else genome.stat().st_size,
        unit="bp" if twobit else "B",
        unit_scale=True,
        disable=not progress,
        desc=genome.name,
    ) as bar:
        if twobit:
            return encode_twobit(genome, write, CHUNK_BASES, bar.update)
        encoder = FastaEncoder(genome, write)
        for block, offset in text_blocks.normalized_blocks(genome):
            encoder.feed(block)
            bar.update(offset - bar.n)
        return encoder.finish()
