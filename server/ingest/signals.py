"""Ingest signal tracks: bigWig (pyBigWig, streamed) and bedGraph -> the signal store.

``add_signal_files`` stores every file of one add-data call as a track of its condition
(strand ``+``, ``-`` or unstranded; ``add_stranded_pair``: a ``+`` and a ``-`` file of one
condition), all or nothing, by the interval store's protocol (``intervals``): each file
becomes one track folder (``signal_writer``: written under a staging name, fsynced, renamed
into place) while ``signals/.lock`` is held shared, then ONE transaction commits every
condition row, every ``signal_tracks`` row and the generation bump. On any error (a bad
second file, a taken strand, a failed commit) every folder this call wrote is deleted and
nothing is visible; a crash before the commit leaves only folders no row names, swept by the
next signal ingest or ``peaksql migrate`` (``signal_store.sweep_orphans``).

Chromosome names resolve exactly as an interval file's do (``chromosomes.target_assembly``:
the assembly's own names, ``--chromosome-aliases``, the built-in aliases; with
``--skip-unknown-chromosomes`` the runs on unknown ones are skipped and counted). A bigWig
streams chromosome by chromosome in slices of ``_SLICE`` bases (memory flat); a bedGraph is
read whole (its size bounds memory) and sorted.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Engine

from peaksql.core.errors import AlreadyExists, InputFileError, InvalidArgument
from peaksql.server.catalog.generation import bump_generation
from peaksql.server.catalog.schema import signal_tracks
from peaksql.server.catalog.signal_store import (
    data_dir_of,
    delete_tracks,
    store_lock,
    sweep_orphans,
)
from peaksql.server.ingest.chromosomes import (
    TargetAssembly,
    check_ends,
    describe_skipped,
    target_assembly,
)
from peaksql.server.ingest.condition_rows import (
    DataInfo,
    IngestFile,
    Options,
    check_condition,
    check_condition_name,
    condition_id,
    refuse_repeated_names,
)
from peaksql.server.ingest.formats import detect_format
from peaksql.server.ingest.reader import read_intervals
from peaksql.server.ingest.signal_writer import TrackWriter

#: bigWig bases read per pyBigWig call (bounds memory: runs of one slice at a time).
_SLICE = 1 << 25
#: One slice of a track: (chromosome index, starts, ends, values), assembly positions.
Slice = tuple[int, np.ndarray, np.ndarray, np.ndarray]
STRANDS = ("", "+", "-")


def read_bigwig(path: Path, target: TargetAssembly, skipped: Counter[str]) -> Iterator[Slice]:
    """(chromosome index, starts, ends, values) slices in assembly order, from pyBigWig; the
    runs on chromosomes skipped as unknown are counted in ``skipped``."""
    import pyBigWig

    handle = pyBigWig.open(str(path))
    if handle is None or not handle.isBigWig():
        raise InputFileError(path, None, "not a bigWig file")
    try:
        present: dict[str, int] = handle.chroms()
        unknown: Counter[str] = Counter()
        positions = target.resolver.positions(list(present), None, path, unknown)
        _check_header(path, present, positions, target)
        found = zip(positions.tolist(), present, strict=True)
        for position, name in sorted((p, n) for p, n in found if p >= 0):
            offset = int(target.offsets[position])
            for starts, ends, values in _bigwig_runs(handle, name, present[name]):
                yield position, offset + starts, offset + ends, values
        for name in unknown:
            skipped[name] += sum(s.size for s, _, _ in _bigwig_runs(handle, name, present[name]))
    finally:
        handle.close()


def _bigwig_runs(handle: Any, name: str, length: int) -> Iterator[tuple[np.ndarray, ...]]:
    """(starts, ends, values) of chromosome ``name`` of a bigWig, ``_SLICE`` bases a call."""
    for lo in range(0, length, _SLICE):
        runs = handle.intervals(name, lo, min(lo + _SLICE, length)) or ()
        flat = np.fromiter(itertools.chain.from_iterable(runs), np.float64, 3 * len(runs))
        flat = flat.reshape(-1, 3)
        flat = flat[flat[:, 0] >= lo]  # a run across the slice start came before
        yield flat[:, 0].astype(np.int64), flat[:, 1].astype(np.int64), flat[:, 2].astype("f4")


def _check_header(
    path: Path, present: dict[str, int], positions: np.ndarray, target: TargetAssembly
) -> None:
    """InputFileError for a chromosome longer than the assembly's, or two names of one."""
    assembly = target.resolver.assembly
    seen: dict[int, str] = {}
    for name, position in zip(present, positions.tolist(), strict=True):
        if position < 0:
            continue
        own = target.resolver.names[position]
        shown = name if name == own else f"{name} ({own} of {assembly})"
        if position in seen:
            raise InputFileError(
                path, None, f"chromosomes {seen[position]} and {shown} are the same chromosome"
            )
        seen[position] = name
        size = int(target.lengths[position])
        if present[name] > size:
            raise InputFileError(
                path, None, f"{shown} is {present[name]:,} bp here, {size:,} bp in {assembly}"
            )


def read_bedgraph(
    path: Path, target: TargetAssembly, skipped: Counter[str], chunk_lines: int = 200_000
) -> Iterator[Slice]:
    """(chromosome index, starts, ends, values) per chromosome, sorted, from a bedGraph; the
    lines on chromosomes skipped as unknown are counted in ``skipped``."""
    parts: list[tuple[np.ndarray, ...]] = []
    for chunk in read_intervals(path, "bedgraph", chunk_lines=chunk_lines):
        positions = target.resolver.positions(chunk.chromosome, chunk.line, path, skipped)
        if skipped and (positions < 0).any():
            keep = positions >= 0
            chunk, positions = chunk.select(keep), positions[keep]
        check_ends(chunk, positions, target, path)
        assert chunk.value is not None
        offsets = target.offsets[positions]
        parts.append((positions, offsets + chunk.start, offsets + chunk.end, chunk.value))
    if not any(part[0].size for part in parts):
        why = f"; skipped {describe_skipped(skipped)}" if skipped else ""
        raise InputFileError(path, None, f"no values (only blank, comment or track lines){why}")
    index, starts, ends, values = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.lexsort((ends, starts))
    for chromosome in np.unique(index):
        rows = order[index[order] == chromosome]
        yield int(chromosome), starts[rows], ends[rows], values[rows]


def _write_track(
    data_dir: Path, file: IngestFile, target: TargetAssembly, skipped: Counter[str], lines: int
) -> TrackWriter:
    """One file -> one track folder, renamed into place (its row is the caller's to commit)."""
    path = file.path
    if file.format == "bigwig":
        slices = read_bigwig(path, target, skipped)
    else:
        slices = read_bedgraph(path, target, skipped, lines)
    writer = TrackWriter(data_dir, (target.offsets, target.lengths))
    try:
        for index, starts, ends, values in slices:
            try:
                writer.append(index, starts, ends, values)
            except InvalidArgument as error:
                raise InputFileError(path, None, str(error)) from None
        if writer.num_runs == 0:
            why = f"; skipped {describe_skipped(skipped, 'runs')}" if skipped else ""
            raise InputFileError(path, None, f"no runs with a value{why}")
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    return writer


def add_signal_files(
    engine: Engine,
    files: list[IngestFile],
    strands: list[str],
    options: Options,
    aliases: Path | None = None,
    data_dir: Path | str | None = None,
) -> list[DataInfo]:
    """Store each of ``files`` as the ``strands[i]`` track of its condition on
    ``options.assembly``, all or nothing (module docstring). A taken condition needs
    ``options.append``, and so do two files of one condition, unless they are its ``+`` and
    ``-`` tracks. ``DataInfo.num_intervals`` counts a track's runs."""
    _check_strands(files, strands, options)
    root = data_dir_of(engine, data_dir)
    sweep_orphans(engine, root)
    with engine.connect() as connection:
        assembly, skip = options.assembly, options.skip_unknown
        target = target_assembly(connection, files[0].path, assembly, aliases, skip)
        for file in files:
            check_condition(connection, file, target.id, options)
    files = [replace(f, format=_track_format(f.format)) for f in files]
    infos: list[DataInfo] = []
    with store_lock(root, exclusive=False):
        writers: list[TrackWriter] = []
        try:
            for file in files:
                skipped: Counter[str] = Counter()
                writers.append(_write_track(root, file, target, skipped, options.chunk_lines))
                runs = writers[-1].num_runs
                infos.append(DataInfo(file.condition, runs, file.format, file.note, skipped))
            _commit(engine, files, strands, writers, target.id, options)
        except BaseException:
            delete_tracks(root, [w.name for w in writers])
            raise
    return infos


def _track_format(fmt: str) -> str:
    """A signal track's format: bigWig, else a bedGraph read as signal (``--strand``)."""
    return "bigwig" if fmt == "bigwig" else "bedgraph-signal"


def _check_strands(files: list[IngestFile], strands: list[str], options: Options) -> None:
    """Strands are '+', '-' or ''; a condition named twice needs append, or is a pair."""
    named: dict[str, list[str]] = {}
    for file, strand in zip(files, strands, strict=True):
        if strand not in STRANDS:
            raise InvalidArgument(
                f"{file.path}: the strand is {strand!r}; it must be '+', '-' or '' (unstranded)"
            )
        named.setdefault(file.condition, []).append(strand)
    pairs = {name for name, found in named.items() if sorted(found) == ["+", "-"]}
    refuse_repeated_names([f for f in files if f.condition not in pairs], options)


def _commit(
    engine: Engine,
    files: list[IngestFile],
    strands: list[str],
    writers: list[TrackWriter],
    assembly_id: int,
    options: Options,
) -> None:
    """One transaction: every condition row, every track row, the generation bump."""
    with engine.begin() as connection:
        ids: dict[str, int] = {}
        for file, strand, writer in zip(files, strands, writers, strict=True):
            if file.condition not in ids:
                ids[file.condition] = condition_id(connection, file, assembly_id, options)
            _insert_track(connection, ids[file.condition], assembly_id, strand, file, writer)
        bump_generation(connection)


def _insert_track(
    connection: sa.Connection,
    condition: int,
    assembly_id: int,
    strand: str,
    file: IngestFile,
    writer: TrackWriter,
) -> None:
    """The track's row; AlreadyExists when the condition has the strand on the assembly
    (or an unstranded track where this is stranded, or the other way round)."""
    taken = set(
        connection.scalars(
            sa.select(signal_tracks.c.strand).where(
                signal_tracks.c.condition_id == condition,
                signal_tracks.c.assembly_id == assembly_id,
            )
        )
    )
    if strand in taken or (taken and (strand == "") != ("" in taken)):
        shown = f"strand {strand}" if strand else "an unstranded track"
        raise AlreadyExists(f"{file.path}: condition {file.condition!r} already has {shown}")
    row: dict[str, Any] = {
        "condition_id": condition,
        "assembly_id": assembly_id,
        "strand": strand,
        "path": writer.name,
        "num_runs": writer.num_runs,
        "source_file": str(file.path.resolve()),
    }
    connection.execute(signal_tracks.insert().values(**row))


def add_stranded_pair(
    engine: Engine,
    plus: Path,
    minus: Path,
    assembly: str,
    condition: str | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    chromosome_aliases: str | Path | None = None,
    skip_unknown_chromosomes: bool = False,
    data_dir: Path | str | None = None,
) -> int:
    """A + and a − file as one stranded condition (one transaction); the runs stored.

    The condition defaults to the two file names' common prefix (``tss_plus.bw`` and
    ``tss_minus.bw`` -> ``tss``). Names resolve as in ``add_signal_files``.
    """
    plus, minus = Path(plus), Path(minus)
    fmt = _track_format(detect_format(plus))
    if condition is None:
        common = os.path.commonprefix([plus.name, minus.name]).rstrip("_.-+")  # noqa: RUF071
        condition = common or plus.stem
    check_condition_name(condition)
    files = [IngestFile(path, fmt, None, condition) for path in (plus, minus)]
    skip = skip_unknown_chromosomes
    options = Options(assembly, condition, False, metadata, False, 200_000, skip)
    aliases = None if chromosome_aliases is None else Path(chromosome_aliases)
    infos = add_signal_files(engine, files, ["+", "-"], options, aliases, data_dir)
    return sum(info.num_intervals for info in infos)
