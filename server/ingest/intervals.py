"""Ingest interval files into the ``intervals`` table: file -> IntervalChunk -> rows -> bulk insert.

One ``add_data_files`` call is one transaction: the condition rows and every interval row of
every file are written together, or, on any error (a bad line a million lines into the
third file included), nothing of any file is stored and the catalog is as it was. One
transaction rather than "validate all, then store all": each file is read once, and errors
only the database sees (a condition name two files share) roll back the same way.
Rows go in by bulk paths (``bulk``), never a statement per row.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from tqdm import tqdm

from peaksql.core.errors import AlreadyExists, InputFileError, InvalidArgument, NotFound
from peaksql.server.catalog import queries
from peaksql.server.catalog.columns import OPTIONAL_FIELDS
from peaksql.server.catalog.condition_metadata import replace_metadata_rows
from peaksql.server.catalog.generation import bump_generation
from peaksql.server.catalog.parts import delete_condition_rows, ensure_part
from peaksql.server.catalog.schema import chromosomes, conditions, intervals
from peaksql.server.ingest import formats
from peaksql.server.ingest.bulk import (
    SQLITE_INGEST_CACHE_KIB,
    bulk_writer,
    columns,
    sqlite_page_cache,
)
from peaksql.server.ingest.chromosomes import ChromosomeResolver, describe_skipped
from peaksql.server.ingest.reader import IntervalChunk, read_intervals, sniff_format
from peaksql.server.ingest.signals import add_signal_file
from peaksql.server.ingest.text_blocks import clip

_MAX_CONDITION_NAME = 255


@dataclass(frozen=True)
class DataInfo:
    """What one file stored: ``num_intervals`` counts this file's rows only.

    ``note`` says how the format was chosen when the content overruled the extension;
    ``skipped`` counts lines on unknown chromosomes by name (``skip_unknown_chromosomes``).
    """

    condition: str
    num_intervals: int
    format: str
    note: str | None = None
    skipped: Counter[str] = field(default_factory=Counter)

    def describe_skipped(self) -> str | None:
        """``12 lines on 3 unknown chromosomes: chrUn_x (7), ...``; None if none skipped."""
        return describe_skipped(self.skipped) if self.skipped else None


@dataclass(frozen=True)
class _Options:
    """What every file of one call shares."""

    assembly: str
    condition: str | None
    append: bool
    metadata: dict[str, Any] | None
    progress: bool
    chunk_lines: int


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
) -> list[DataInfo]:
    """Store the intervals of every file in ``paths``, all in one transaction.

    Each file becomes condition ``condition`` (default: the file's stem) of ``assembly``; a
    taken condition name raises AlreadyExists unless ``append`` (the intervals then join it,
    on this or another assembly; ``metadata`` given then updates its metadata key by key). A
    metadata key named like a built-in constraint column raises InvalidArgument.
    ``fmt`` defaults to the extension's, except that a 10-column ``.bed`` file is read as
    narrowPeak (``DataInfo.note`` says so). Chromosome names resolve through aliases
    (``chromosomes``); ``skip_unknown_chromosomes`` skips and counts lines on unknown ones.
    Bad lines raise InputFileError naming file, line and problem; nothing is stored then.
    ``chunk_lines`` bounds memory: lines parsed and inserted at a time.

    Signal formats (bigWig) and files given a ``strand`` (+, -, "") become signal tracks
    (``signals``), one transaction per file; a call takes signal files or interval files,
    not both.
    """
    options = _Options(assembly, condition, append, metadata, progress, chunk_lines)
    plans = [_plan(Path(path), fmt, condition) for path in paths]
    if strand is not None or any(formats.is_signal_format(plan[1]) for plan in plans):
        return _add_signal_files(engine, plans, options, strand, chromosome_aliases)
    aliases = None if chromosome_aliases is None else Path(chromosome_aliases)
    with engine.begin() as connection:
        assembly_id = _require_assembly(connection, assembly, plans[0][0])
        names, ids, lengths = _chromosomes(connection, assembly_id)
        resolver = ChromosomeResolver(
            names, assembly, aliases, skip_unknown=skip_unknown_chromosomes
        )
        infos = [
            _add_file(connection, plan, assembly_id, resolver, ids, lengths, options)
            for plan in plans
        ]
        bump_generation(connection)
    return infos


def _plan(path: Path, fmt: str | None, condition: str | None) -> tuple[Path, str, str | None, str]:
    """(path, format, note, condition) of one file, checked before anything is written."""
    chosen, note = (formats.resolve_format(path, fmt), None) if fmt else sniff_format(path)
    name = default_condition(path) if condition is None else condition
    _check_condition_name(name)
    return path, chosen, note, name


def _add_file(
    connection: Connection,
    plan: tuple[Path, str, str | None, str],
    assembly_id: int,
    resolver: ChromosomeResolver,
    ids: np.ndarray,
    lengths: np.ndarray,
    options: _Options,
) -> DataInfo:
    """Insert one file's condition and intervals inside the caller's transaction."""
    path, fmt, note, condition = plan
    condition_id = _condition_id(connection, condition, assembly_id, path, options)
    skipped: Counter[str] = Counter()
    num_intervals = 0
    size = path.stat().st_size if path.is_file() else None
    bar = tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        desc=f"{condition} ({path.name})",
        disable=not options.progress,
    )
    with bulk_writer(connection) as write, bar:
        for chunk in read_intervals(path, fmt, chunk_lines=options.chunk_lines):
            positions = resolver.positions(chunk.chromosome, chunk.line, path, skipped)
            if skipped and (positions < 0).any():
                keep = positions >= 0
                chunk, positions = _select(chunk, keep), positions[keep]
            if len(chunk):
                _check_ends(chunk, positions, lengths, resolver.names, path)
                write(columns(chunk, ids[positions], condition_id))
                num_intervals += len(chunk)
            bar.update(chunk.file_offset - bar.n)
    if num_intervals == 0:
        why = f"; skipped {describe_skipped(skipped)}" if skipped else ""
        raise InputFileError(
            path, None, f"no intervals (only blank, comment, track or browser lines){why}"
        )
    return DataInfo(condition, num_intervals, fmt, note, skipped)


def _add_signal_files(
    engine: Engine,
    plans: list[tuple[Path, str, str | None, str]],
    options: _Options,
    strand: str | None,
    chromosome_aliases: str | Path | None,
) -> list[DataInfo]:
    """Signal files, each a track of its condition (``signals.add_signal_file``)."""
    intervals_too = [p for p, fmt, _, _ in plans if not formats.is_signal_format(fmt)]
    if strand is None and intervals_too:
        raise InvalidArgument(
            f"{intervals_too[0]}: add signal files (bigWig, or --strand) and interval files "
            "in separate add-data calls"
        )
    if chromosome_aliases is not None:
        raise InvalidArgument("--chromosome-aliases is not supported for signal tracks yet")
    return [
        add_signal_file(
            engine, path, options.assembly, name, fmt, options.append, options.metadata, strand
        )
        for path, fmt, _, name in plans
    ]


def _select(chunk: IntervalChunk, keep: np.ndarray) -> IntervalChunk:
    """The rows of ``chunk`` where ``keep`` is true (lists and arrays alike)."""
    rows = np.flatnonzero(keep).tolist()
    changes: dict[str, Any] = {}
    for name in ("chromosome", "start", "end", "line", *OPTIONAL_FIELDS):
        values = getattr(chunk, name)
        if isinstance(values, np.ndarray):
            changes[name] = values[keep]
        elif values is not None:
            changes[name] = [values[row] for row in rows]
    return replace(chunk, **changes)


def _check_ends(
    chunk: IntervalChunk,
    positions: np.ndarray,
    lengths: np.ndarray,
    names: list[str],
    path: Path,
) -> None:
    """InputFileError naming the line of the first interval past its chromosome's end."""
    too_long = chunk.end > lengths[positions]
    if too_long.any():
        row = int(np.argmax(too_long))
        raise InputFileError(
            path,
            int(chunk.line[row]),
            f"end {chunk.end[row]} is past the end of {clip(chunk.chromosome[row])} "
            f"({names[positions[row]]}, length {lengths[positions[row]]})",
        )


def _chromosomes(
    connection: Connection, assembly_id: int
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, ids, lengths) of the assembly's chromosomes, in ingest order."""
    rows = connection.execute(
        sa.select(chromosomes.c.name, chromosomes.c.id, chromosomes.c.length)
        .where(chromosomes.c.assembly_id == assembly_id)
        .order_by(chromosomes.c.id)
    ).all()
    ids = np.array([row.id for row in rows], dtype=np.int64)
    lengths = np.array([row.length for row in rows], dtype=np.int64)
    return [row.name for row in rows], ids, lengths


def remove_condition(engine: Engine, name: str) -> int:
    """Delete condition ``name`` and its intervals (one transaction); returns the number of
    intervals deleted. NotFound when there is no such condition.
    """
    with engine.begin() as connection:
        condition_id = connection.scalar(
            sa.select(conditions.c.id).where(conditions.c.name == name)
        )
        if condition_id is None:
            raise NotFound(f"no condition {name!r}; the conditions are: {_names(connection)}")
        with sqlite_page_cache(connection, SQLITE_INGEST_CACHE_KIB):
            deleted = connection.execute(
                intervals.delete().where(intervals.c.condition_id == condition_id)
            ).rowcount
        delete_condition_rows(connection, condition_id)
        connection.execute(conditions.delete().where(conditions.c.id == condition_id))
        bump_generation(connection)
    return int(deleted)


# ---------------------------------------------------------------------------------------------
# catalog rows


def _check_condition_name(name: str) -> None:
    if not name or not name.strip():
        raise InvalidArgument("the condition name is empty")
    if len(name) > _MAX_CONDITION_NAME:
        raise InvalidArgument(
            f"condition name {name[:40]!r}... is {len(name)} characters long "
            f"(at most {_MAX_CONDITION_NAME})"
        )


def _names(connection: Connection) -> str:
    names = list(connection.scalars(sa.select(conditions.c.name).order_by(conditions.c.name)))
    return ", ".join(names) if names else "(none)"


def _require_assembly(connection: Connection, assembly: str, path: Path) -> int:
    """The id of ``assembly``; NotFound naming the known assemblies when there is none."""
    found = queries.assembly_id(connection, assembly)
    if found is None:
        names = queries.assembly_names(connection)
        known = ", ".join(names) if names else "(none; add a genome first)"
        raise NotFound(f"{path}: assembly {assembly!r} not found; the assemblies are: {known}")
    return found


def _condition_id(
    connection: Connection, condition: str, assembly_id: int, path: Path, options: _Options
) -> int:
    """The id of the condition to fill: a new row, or with ``append`` the existing one.

    A condition may hold intervals of several assemblies (``append`` of another assembly's
    file adds a part, ``condition_parts``); ``append`` is still required to add to an
    existing condition, so a re-run cannot double a dataset. Metadata rows
    (``condition_metadata``) follow the metadata JSON.
    """
    append, metadata = options.append, options.metadata
    existing = connection.execute(
        sa.select(conditions.c.id, conditions.c.metadata).where(conditions.c.name == condition)
    ).first()
    if existing is None:
        inserted = connection.execute(
            conditions.insert().values(
                name=condition,
                metadata=_metadata_text(metadata),
                source_file=str(path.resolve()),
            )
        )
        condition_id = int(inserted.inserted_primary_key[0])
        replace_metadata_rows(connection, condition_id, metadata or {})
    elif not append:
        raise AlreadyExists(
            f"{path}: condition {condition!r} already exists; pass append=True (--append) "
            "to add these intervals to it, or choose another condition name"
        )
    else:
        condition_id = int(existing.id)
        if metadata:
            merged = {**json.loads(existing.metadata or "{}"), **metadata}
            replace_metadata_rows(connection, condition_id, merged)
            connection.execute(
                conditions.update()
                .where(conditions.c.id == condition_id)
                .values(metadata=_metadata_text(merged))
            )
    ensure_part(connection, condition_id, assembly_id)
    return condition_id


def _metadata_text(metadata: dict[str, Any] | None) -> str | None:
    if metadata is None:
        return None
    try:
        return json.dumps(metadata, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"condition metadata is not JSON-serialisable: {error}") from error
