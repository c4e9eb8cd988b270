"""Ingest interval files: files -> IntervalChunks -> parts of the interval store + their rows.

One ``add_data_files`` call is all-or-nothing over every file it names. Each file is parsed
and validated (chromosome aliases and skips applied, ends checked) into a ``PartBuilder``
and written as one part (``store_writer``: columnar files sorted by start, written under a
staging name, fsynced and renamed into place) while the store's writer lock is held shared;
then ONE transaction commits every condition row, every ``parts`` row and the generation
bump. On any error (a bad line a million lines into the third file, a condition name the
database refuses, a failed commit) every part this call wrote is deleted and nothing is
visible; a crash before the commit leaves only orphan folders no row names, swept by the
next ingest or ``peaksql migrate`` (``interval_store.sweep``). A part is written as soon as
its file is parsed, so memory holds one file's columns, not the whole call's.
Removal deletes the rows (commit), then the folders. Interval rows never go through SQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from tqdm import tqdm

from peaksql.core.errors import InputFileError, InvalidArgument, NotFound
from peaksql.server.catalog.generation import bump_generation
from peaksql.server.catalog.interval_store import data_dir_of, delete_parts, sweep, writer_lock
from peaksql.server.catalog.parts import delete_condition_rows, insert_part
from peaksql.server.catalog.schema import conditions
from peaksql.server.catalog.signal_store import delete_tracks
from peaksql.server.ingest import formats
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
    condition_names,
    refuse_repeated_names,
)
from peaksql.server.ingest.reader import read_intervals, sniff_format
from peaksql.server.ingest.signals import add_signal_files
from peaksql.server.ingest.store_writer import PartBuilder

__all__ = [
    "DataInfo",
    "RemovedCondition",
    "add_data",
    "add_data_files",
    "remove_condition",
    "sweep_orphans",
]


def default_condition(path: str | Path) -> str:
    """The condition a file goes into by default: its name without ``.gz`` and the format
    extension (``liver.narrowPeak.gz`` -> ``liver``; an unknown extension is dropped too).
    """
    stem, _ = formats.split_extensions(path)
    return stem


def add_data(
    engine: Engine,
    path: str | Path,
    assembly: str,
    condition: str | None = None,
    fmt: str | None = None,
    **options: Any,
) -> DataInfo:
    """Store one file: ``add_data_files`` with a single path (same options)."""
    return add_data_files(engine, [path], assembly, condition, fmt, **options)[0]


def add_data_files(
    engine: Engine,
    paths: Sequence[str | Path],
    assembly: str,
    condition: str | None = None,
    fmt: str | None = None,
    *,
    append: bool = False,
    metadata: dict[str, Any] | None = None,
    progress: bool = True,
    chunk_lines: int = 200_000,
    chromosome_aliases: str | Path | None = None,
    skip_unknown_chromosomes: bool = False,
    strand: str | None = None,
    data_dir: Path | None = None,
) -> list[DataInfo]:
    """Store the intervals of every file in ``paths``, all or nothing (module docstring).

    Each file becomes condition ``condition`` (default: the file's stem) of ``assembly``; a
    taken condition name raises AlreadyExists unless ``append`` (the intervals then join it,
    on this or another assembly; ``metadata`` given then updates its metadata key by key). A
    metadata key named like a built-in constraint column raises InvalidArgument.
    ``fmt`` defaults to the extension's, except that a 10-column ``.bed`` file is read as
    narrowPeak (``DataInfo.note`` says so). Chromosome names resolve through aliases
    (``chromosomes``); ``skip_unknown_chromosomes`` skips and counts lines on unknown ones.
    Bad lines raise InputFileError naming file, line and problem; nothing is stored then.
    ``chunk_lines`` bounds the parser's batch; ``data_dir`` is where the store lives
    (default: ``interval_store.data_dir_of``).

    Signal formats (bigWig) and files given a ``strand`` (+, -, "") become signal tracks
    (``signals``), all of them in one transaction too, their chromosome names resolved the
    same way; a call takes signal files or interval files, not both.
    """
    options = Options(
        assembly, condition, append, metadata, progress, chunk_lines, skip_unknown_chromosomes
    )
    files = [_checked_file(Path(path), fmt, condition) for path in paths]
    aliases = None if chromosome_aliases is None else Path(chromosome_aliases)
    if strand is not None or any(formats.is_signal_format(f.format) for f in files):
        return _add_signal_files(engine, files, options, strand, aliases, data_dir)
    data_dir = data_dir_of(engine, data_dir)
    sweep_orphans(engine, data_dir)
    with engine.connect() as connection:
        target = target_assembly(connection, files[0].path, assembly, aliases, options.skip_unknown)
        for file in files:
            check_condition(connection, file, target.id, options)
    refuse_repeated_names(files, options)
    written: list[str] = []
    with writer_lock(data_dir):
        try:
            parsed = []
            for file in files:
                builder, info = _read_part(file, target, options)
                written.append(builder.write(data_dir))
                parsed.append((file, info))
            _commit(engine, parsed, written, target.id, options)
        except BaseException:
            delete_parts(data_dir, written)
            raise
    return [info for _, info in parsed]


def _checked_file(path: Path, fmt: str | None, condition: str | None) -> IngestFile:
    chosen, note = (formats.resolve_format(path, fmt), None) if fmt else sniff_format(path)
    name = default_condition(path) if condition is None else condition
    check_condition_name(name)
    return IngestFile(path, chosen, note, name)


def _commit(
    engine: Engine,
    parsed: list[tuple[IngestFile, DataInfo]],
    written: list[str],
    assembly_id: int,
    options: Options,
) -> None:
    """One transaction: every condition row, every part row, the generation bump."""
    with engine.begin() as connection:
        for (file, info), name in zip(parsed, written, strict=True):
            owner = condition_id(connection, file, assembly_id, options)
            insert_part(
                connection,
                owner,
                assembly_id,
                name,
                info.num_intervals,
                str(file.path.resolve()),
            )
        bump_generation(connection)


def _read_part(
    file: IngestFile, target: TargetAssembly, options: Options
) -> tuple[PartBuilder, DataInfo]:
    """Parse one whole file into a part (InputFileError at the first bad line)."""
    builder = PartBuilder()
    skipped: Counter[str] = Counter()
    path = file.path
    size = path.stat().st_size if path.is_file() else None
    description = f"{file.condition} ({path.name})"
    disable = not options.progress
    with tqdm(total=size, unit="B", unit_scale=True, desc=description, disable=disable) as bar:
        for chunk in read_intervals(path, file.format, chunk_lines=options.chunk_lines):
            positions = target.resolver.positions(chunk.chromosome, chunk.line, path, skipped)
            if skipped and (positions < 0).any():
                keep = positions >= 0
                chunk, positions = chunk.select(keep), positions[keep]
            if len(chunk):
                check_ends(chunk, positions, target, path)
                builder.add(chunk, positions, target.offsets)
            bar.update(chunk.file_offset - bar.n)
    if len(builder) == 0:
        why = f"; skipped {describe_skipped(skipped)}" if skipped else ""
        raise InputFileError(
            path, None, f"no intervals (only blank, comment, track or browser lines){why}"
        )
    return builder, DataInfo(file.condition, len(builder), file.format, file.note, skipped)


def _add_signal_files(
    engine: Engine,
    files: list[IngestFile],
    options: Options,
    strand: str | None,
    aliases: Path | None,
    data_dir: Path | None,
) -> list[DataInfo]:
    """Signal files, each a track of its condition, all in one transaction
    (``signals.add_signal_files``): a bigWig, or any file given a ``strand``."""
    intervals_too = [f.path for f in files if not formats.is_signal_format(f.format)]
    if strand is None and intervals_too:
        raise InvalidArgument(
            f"{intervals_too[0]}: add signal files (bigWig, or --strand) and interval files "
            "in separate add-data calls"
        )
    strands = [strand or ""] * len(files)
    return add_signal_files(engine, files, strands, options, aliases, data_dir)


def sweep_orphans(engine: Engine, data_dir: Path) -> list[str]:
    """Delete store folders no committed row names (left by a crash), unless another writer
    is at work (it holds the store's lock); returns what was deleted."""
    with writer_lock(data_dir, exclusive=True) as alone:
        if not alone:
            return []
        with engine.connect() as connection:
            return sweep(connection, data_dir)


@dataclass(frozen=True)
class RemovedCondition:
    """What ``remove_condition`` deleted: intervals of its parts, runs of its signal tracks."""

    intervals: int
    runs: int = 0
    tracks: int = 0

    def __str__(self) -> str:
        intervals = f"{self.intervals:,} intervals"
        if not self.tracks:
            return intervals
        runs = f"{self.runs:,} runs in {self.tracks} signal track{'s' * (self.tracks != 1)}"
        return f"{intervals}, {runs}" if self.intervals else runs


def remove_condition(
    engine: Engine, name: str, *, data_dir: Path | None = None
) -> RemovedCondition:
    """Delete condition ``name``, its parts and its signal tracks: the rows in one
    transaction, then the files. NotFound when there is no such condition."""
    with engine.begin() as connection:
        condition_id = connection.scalar(
            sa.select(conditions.c.id).where(conditions.c.name == name)
        )
        if condition_id is None:
            raise NotFound(
                f"no condition {name!r}; the conditions are: {condition_names(connection)}"
            )
        rows, tracks = delete_condition_rows(connection, condition_id)
        connection.execute(conditions.delete().where(conditions.c.id == condition_id))
        bump_generation(connection)
    if rows or tracks:
        folder = data_dir_of(engine, data_dir)
        delete_parts(folder, [path for path, _ in rows])
        delete_tracks(folder, [path for path, _ in tracks])
    return RemovedCondition(
        intervals=int(sum(count for _, count in rows)),
        runs=int(sum(runs for _, runs in tracks)),
        tracks=len(tracks),
    )
