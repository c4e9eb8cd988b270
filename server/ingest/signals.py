"""Ingest signal tracks: bigWig (pyBigWig, streamed) and bedGraph -> the signal store.

``add_signal`` stores one file, or a stranded pair (``+`` then ``-``), as a signal condition:
each file becomes one track folder (``signal_writer``), written and renamed into place before
one transaction commits the condition and every track row; on any error the folders are
deleted and nothing is visible. bigWig streams chromosome by chromosome in slices of
``_SLICE`` bases (memory flat); a bedGraph is read whole (its size bounds memory) and sorted.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Engine

from peaksql.core.errors import AlreadyExists, InputFileError, InvalidArgument, NotFound
from peaksql.server.catalog import queries
from peaksql.server.catalog.condition_metadata import replace_metadata_rows
from peaksql.server.catalog.generation import bump_generation
from peaksql.server.catalog.schema import chromosomes, conditions, signal_tracks
from peaksql.server.catalog.signal_store import (
    data_dir_of,
    delete_tracks,
    store_lock,
    sweep_orphans,
)
from peaksql.server.ingest.formats import detect_format
from peaksql.server.ingest.reader import read_intervals
from peaksql.server.ingest.signal_writer import TrackWriter

#: bigWig bases read per pyBigWig call (bounds memory: runs of one slice at a time).
_SLICE = 1 << 25
#: One slice of a track: (chromosome index, starts, ends, values), assembly positions.
Slice = tuple[int, np.ndarray, np.ndarray, np.ndarray]
STRANDS = ("", "+", "-")


@dataclass(frozen=True)
class Chromosomes:
    """An assembly's chromosomes: name -> (index in the assembly, length, store offset)."""

    by_name: dict[str, tuple[int, int, int]]

    def get(self, path: Path, name: str) -> tuple[int, int, int]:
        found = self.by_name.get(name)
        if found is None:
            known = ", ".join(list(self.by_name)[:5])
            raise InputFileError(
                path, None, f"chromosome {name!r} is not in the assembly ({known})"
            )
        return found


def read_bigwig(path: Path, chroms: Chromosomes) -> Iterator[Slice]:
    """(chromosome index, starts, ends, values) slices in assembly order, from pyBigWig."""
    import pyBigWig

    handle = pyBigWig.open(str(path))
    if handle is None or not handle.isBigWig():
        raise InputFileError(path, None, "not a bigWig file")
    try:
        present = handle.chroms()
        for name, length in present.items():
            index, size, _ = chroms.get(path, name)
            if length > size:
                raise InputFileError(
                    path, None, f"{name} is {length} bp here, {size} bp in the assembly"
                )
        for name in sorted(present, key=lambda n: chroms.by_name[n][0]):
            index, _, offset = chroms.by_name[name]
            for lo in range(0, present[name], _SLICE):
                runs = handle.intervals(name, lo, min(lo + _SLICE, present[name])) or ()
                flat = np.fromiter(itertools.chain.from_iterable(runs), np.float64, 3 * len(runs))
                flat = flat.reshape(-1, 3)
                flat = flat[flat[:, 0] >= lo]  # a run across the slice start came before
                yield (
                    index,
                    offset + flat[:, 0].astype(np.int64),
                    offset + flat[:, 1].astype(np.int64),
                    flat[:, 2].astype(np.float32),
                )
    finally:
        handle.close()


def read_bedgraph(path: Path, chroms: Chromosomes) -> Iterator[Slice]:
    """(chromosome index, starts, ends, values) per chromosome, sorted, from a bedGraph."""
    parts: list[tuple[np.ndarray, ...]] = []
    for chunk in read_intervals(path, "bedgraph"):
        found = [chroms.get(path, name) for name in chunk.chromosome]
        index = np.array([f[0] for f in found], dtype=np.int64)
        size = np.array([f[1] for f in found], dtype=np.int64)
        offset = np.array([f[2] for f in found], dtype=np.int64)
        if (chunk.end > size).any():
            row = int(np.argmax(chunk.end > size))
            raise InputFileError(path, int(chunk.line[row]), "end is past the chromosome's end")
        assert chunk.value is not None
        parts.append((index, offset + chunk.start, offset + chunk.end, chunk.value))
    if not parts:
        raise InputFileError(path, None, "no values (only blank, comment or track lines)")
    index, starts, ends, values = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.lexsort((ends, starts))
    for chromosome in np.unique(index):
        rows = order[index[order] == chromosome]
        yield int(chromosome), starts[rows], ends[rows], values[rows]


def _write_track(data_dir: Path, path: Path, fmt: str, chroms: Chromosomes) -> TrackWriter:
    reader = read_bigwig if fmt == "bigwig" else read_bedgraph
    writer = TrackWriter(data_dir)
    try:
        for index, starts, ends, values in reader(path, chroms):
            try:
                writer.append(index, starts, ends, values)
            except InvalidArgument as error:
                raise InputFileError(path, None, str(error)) from None
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    return writer


def _chromosomes(connection: sa.Connection, assembly_id: int) -> Chromosomes:
    rows = connection.execute(
        sa.select(chromosomes.c.name, chromosomes.c.length, chromosomes.c.offset)
        .where(chromosomes.c.assembly_id == assembly_id)
        .order_by(chromosomes.c.id)
    ).all()
    return Chromosomes({r.name: (i, int(r.length), int(r.offset)) for i, r in enumerate(rows)})


def add_signal(
    engine: Engine,
    paths: list[Path],
    strands: list[str],
    assembly_id: int,
    condition: str,
    fmt: str,
    *,
    append: bool = False,
    metadata_text: str | None = None,
    data_dir: Path | str | None = None,
) -> int:
    """Store ``paths`` (strand "" alone, or "+" and "-") as tracks of ``condition``; runs."""
    if sorted(strands) not in (["", ""][: len(strands)], ["+"], ["-"], ["+", "-"]):
        raise InvalidArgument(f"strands must be one of '', '+', '-' or a '+' '-' pair: {strands}")
    root = data_dir_of(engine, data_dir)
    sweep_orphans(engine, root)
    with engine.connect() as connection:
        chroms = _chromosomes(connection, assembly_id)
    with store_lock(root, exclusive=False):
        writers: list[TrackWriter] = []
        try:
            for path in paths:
                writers.append(_write_track(root, Path(path), fmt, chroms))
            with engine.begin() as connection:
                condition_id = _signal_condition(
                    connection, condition, assembly_id, paths[0], append, metadata_text
                )
                _insert_tracks(connection, condition_id, assembly_id, strands, paths, writers)
                bump_generation(connection)
        except BaseException:
            delete_tracks(root, [w.name for w in writers])
            raise
    return sum(w.num_runs for w in writers)


def _signal_condition(
    connection: sa.Connection,
    name: str,
    assembly_id: int,
    path: Path,
    append: bool,
    metadata_text: str | None,
) -> int:
    existing = connection.execute(
        sa.select(conditions.c.id).where(conditions.c.name == name)
    ).first()
    if existing is not None:
        if not append:
            raise AlreadyExists(
                f"{path}: condition {name!r} already exists; pass append=True (--append) to "
                "add the other strand to it, or choose another condition name"
            )
        condition_id = int(existing.id)
    else:
        inserted = connection.execute(
            conditions.insert().values(
                name=name, metadata=metadata_text, source_file=str(Path(path).resolve())
            )
        )
        condition_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
        if metadata_text:
            replace_metadata_rows(connection, condition_id, json.loads(metadata_text))
    return condition_id


def _insert_tracks(
    connection: sa.Connection,
    condition_id: int,
    assembly_id: int,
    strands: list[str],
    paths: list[Path],
    writers: list[TrackWriter],
) -> None:
    taken = set(
        connection.scalars(
            sa.select(signal_tracks.c.strand).where(
                signal_tracks.c.condition_id == condition_id,
                signal_tracks.c.assembly_id == assembly_id,
            )
        )
    )
    for strand, path, writer in zip(strands, paths, writers, strict=True):
        if strand in taken or (taken and (strand == "") != ("" in taken)):
            shown = f"strand {strand}" if strand else "an unstranded track"
            raise AlreadyExists(f"{path}: the condition already has {shown}")
        row: dict[str, Any] = {
            "condition_id": condition_id,
            "assembly_id": assembly_id,
            "strand": strand,
            "path": writer.name,
            "num_runs": writer.num_runs,
            "source_file": str(Path(path).resolve()),
        }
        connection.execute(signal_tracks.insert().values(**row))


def add_signal_file(
    engine: Engine,
    path: Path,
    assembly: str,
    condition: str,
    fmt: str,
    append: bool,
    metadata: dict[str, Any] | None,
    strand: str | None,
    data_dir: Path | str | None = None,
) -> Any:
    """``add_data``'s signal path: one file as a track of ``condition`` (a ``DataInfo``)."""
    from peaksql.server.ingest.intervals import DataInfo

    fmt = "bigwig" if fmt == "bigwig" else "bedgraph-signal"
    runs = add_signal(
        engine,
        [path],
        [strand or ""],
        _assembly_id(engine, assembly, path),
        condition,
        fmt,
        append=append,
        metadata_text=json.dumps(metadata, sort_keys=True) if metadata else None,
        data_dir=data_dir,
    )
    return DataInfo(condition=condition, num_intervals=runs, format=fmt)


def add_stranded_pair(
    engine: Engine,
    plus: Path,
    minus: Path,
    assembly: str,
    condition: str | None = None,
    *,
    data_dir: Path | str | None = None,
) -> int:
    """A + and a − file as one stranded condition (one transaction); the runs stored.

    The condition defaults to the two file names' common prefix (``tss_plus.bw`` and
    ``tss_minus.bw`` -> ``tss``).
    """
    plus, minus = Path(plus), Path(minus)
    fmt = "bigwig" if detect_format(plus) == "bigwig" else "bedgraph-signal"
    if condition is None:
        common = os.path.commonprefix([plus.name, minus.name]).rstrip("_.-+")  # noqa: RUF071
        condition = common or plus.stem
    assembly_id = _assembly_id(engine, assembly, plus)
    return add_signal(
        engine, [plus, minus], ["+", "-"], assembly_id, condition, fmt, data_dir=data_dir
    )


def _assembly_id(engine: Engine, assembly: str, path: Path) -> int:
    with engine.connect() as connection:
        found = queries.assembly_id(connection, assembly)
    if found is None:
        raise NotFound(f"{path}: assembly {assembly!r} not found")
    return found
