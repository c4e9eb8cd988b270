"""Ingest interval files: file -> IntervalChunk -> one part of the interval store + its row.

A file becomes one part (``store_writer``: columnar files sorted by start, written under a
staging name, fsynced and renamed into place), then one transaction commits the condition
row, the ``parts`` row and the generation bump. A crash before that commit leaves an
orphan folder no row names, swept by the next ingest (``interval_store.sweep``); a bad line
a million lines in stores nothing. Removal deletes the rows (commit), then the folders.
Interval rows never go through SQL: 10M lines cost the parse and a sort.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from tqdm import tqdm

from peaksql.core.errors import AlreadyExists, InputFileError, InvalidArgument, NotFound
from peaksql.server.catalog import queries
from peaksql.server.catalog.generation import bump_generation
from peaksql.server.catalog.interval_store import (
    data_dir_of,
    delete_parts,
    sweep,
    writer_lock,
)
from peaksql.server.catalog.schema import assemblies, chromosomes, conditions, parts
from peaksql.server.ingest import formats
from peaksql.server.ingest.reader import IntervalChunk, read_intervals
from peaksql.server.ingest.store_writer import PartBuilder

#: Known chromosome names shown in an "unknown chromosome" message.
_NUM_HINT_NAMES = 5
_MAX_CONDITION_NAME = 255


@dataclass(frozen=True)
class DataInfo:
    """What one ``add_data`` call stored: ``num_intervals`` counts this file's rows only."""

    condition: str
    num_intervals: int
    format: str


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
    *,
    append: bool = False,
    metadata: dict[str, Any] | None = None,
    progress: bool = True,
    chunk_lines: int = 200_000,
    data_dir: Path | None = None,
) -> DataInfo:
    """Store the intervals of ``path`` as condition ``condition`` of ``assembly``.

    ``fmt`` defaults to the one the extension names; ``condition`` to the file's stem. A taken
    condition name raises AlreadyExists unless ``append`` (the intervals then join it; it must
    belong to ``assembly``; ``metadata`` given then updates its metadata key by key).
    Bad lines raise InputFileError naming file, line and problem; nothing is stored then.
    ``data_dir`` is where the store lives (default: ``interval_store.data_dir_of``).
    """
    path = Path(path)
    fmt = formats.get_format(fmt).name if fmt else formats.detect_format(path)
    condition = default_condition(path) if condition is None else condition
    _check_condition_name(condition)
    data_dir = data_dir_of(engine, data_dir)
    sweep_orphans(engine, data_dir)
    with engine.connect() as connection:
        assembly_id = _require_assembly(connection, assembly, path)
        _check_condition(connection, condition, assembly_id, assembly, path, append)
        resolve, offsets = _chromosome_resolver(connection, assembly_id, assembly, path)
    builder = _read_part(path, fmt, condition, resolve, offsets, progress, chunk_lines)
    with writer_lock(data_dir):
        name = builder.write(data_dir)
        try:
            with engine.begin() as connection:
                condition_id = _condition_id(
                    connection, condition, assembly, assembly_id, path, append, metadata
                )
                connection.execute(
                    parts.insert().values(
                        condition_id=condition_id,
                        assembly_id=assembly_id,
                        path=name,
                        num_intervals=len(builder),
                        source_file=str(path.resolve()),
                    )
                )
                bump_generation(connection)
        except BaseException:
            delete_parts(data_dir, [name])
            raise
    return DataInfo(condition=condition, num_intervals=len(builder), format=fmt)


def _read_part(
    path: Path,
    fmt: str,
    condition: str,
    resolve: Callable[[IntervalChunk], np.ndarray],
    offsets: np.ndarray,
    progress: bool,
    chunk_lines: int,
) -> PartBuilder:
    """Parse the whole file into a part (InputFileError at the first bad line)."""
    builder = PartBuilder()
    size = path.stat().st_size if path.is_file() else None
    description = f"{condition} ({path.name})"
    with tqdm(total=size, unit="B", unit_scale=True, desc=description, disable=not progress) as bar:
        for chunk in read_intervals(path, fmt, chunk_lines=chunk_lines):
            builder.add(chunk, resolve(chunk), offsets)
            bar.update(chunk.file_offset - bar.n)
    if len(builder) == 0:
        raise InputFileError(
            path, None, "no intervals (only blank, comment, track or browser lines)"
        )
    return builder


def sweep_orphans(engine: Engine, data_dir: Path) -> list[str]:
    """Delete store folders no committed row names (left by a crash), unless another writer
    is at work (it holds the store's lock); returns what was deleted."""
    with writer_lock(data_dir, exclusive=True) as alone:
        if not alone:
            return []
        with engine.connect() as connection:
            return sweep(connection, data_dir)


def remove_condition(engine: Engine, name: str, *, data_dir: Path | None = None) -> int:
    """Delete condition ``name`` and its parts: the rows in one transaction, then the files.
    Returns the number of intervals deleted. NotFound when there is no such condition.
    """
    with engine.begin() as connection:
        condition_id = connection.scalar(
            sa.select(conditions.c.id).where(conditions.c.name == name)
        )
        if condition_id is None:
            raise NotFound(f"no condition {name!r}; the conditions are: {_names(connection)}")
        rows = connection.execute(
            sa.select(parts.c.path, parts.c.num_intervals).where(
                parts.c.condition_id == condition_id
            )
        ).all()
        connection.execute(parts.delete().where(parts.c.condition_id == condition_id))
        connection.execute(conditions.delete().where(conditions.c.id == condition_id))
        bump_generation(connection)
    if rows:
        delete_parts(data_dir_of(engine, data_dir), [row.path for row in rows])
    return int(sum(row.num_intervals for row in rows))


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
    connection: Connection,
    condition: str,
    assembly: str,
    assembly_id: int,
    path: Path,
    append: bool,
    metadata: dict[str, Any] | None,
) -> int:
    """The id of the condition to fill: a new row, or with ``append`` the existing one."""
    existing = connection.execute(
        sa.select(conditions.c.id, conditions.c.assembly_id, conditions.c.metadata).where(
            conditions.c.name == condition
        )
    ).first()
    if existing is None:
        inserted = connection.execute(
            conditions.insert().values(
                name=condition,
                assembly_id=assembly_id,
                metadata=_metadata_text(metadata),
                source_file=str(path.resolve()),
            )
        )
        return int(inserted.inserted_primary_key[0])
    _check_existing(connection, condition, existing.assembly_id, assembly_id, assembly, path)
    if not append:
        _refuse_taken(condition, path)
    if metadata:
        merged = {**json.loads(existing.metadata or "{}"), **metadata}
        connection.execute(
            conditions.update()
            .where(conditions.c.id == existing.id)
            .values(metadata=_metadata_text(merged))
        )
    return int(existing.id)


def _metadata_text(metadata: dict[str, Any] | None) -> str | None:
    if metadata is None:
        return None
    try:
        return json.dumps(metadata, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"condition metadata is not JSON-serialisable: {error}") from error


def _check_condition(
    connection: Connection,
    condition: str,
    assembly_id: int,
    assembly: str,
    path: Path,
    append: bool,
) -> None:
    """Refuse a taken name (without ``append``) or another assembly's condition before
    reading the file; ``_condition_id`` checks again inside the writing transaction."""
    existing = connection.execute(
        sa.select(conditions.c.id, conditions.c.assembly_id).where(conditions.c.name == condition)
    ).first()
    if existing is not None:
        _check_existing(connection, condition, existing.assembly_id, assembly_id, assembly, path)
        if not append:
            _refuse_taken(condition, path)


def _refuse_taken(condition: str, path: Path) -> None:
    raise AlreadyExists(
        f"{path}: condition {condition!r} already exists; pass append=True (--append) "
        "to add these intervals to it, or choose another condition name"
    )


def _check_existing(
    connection: Connection,
    condition: str,
    existing_assembly: int,
    assembly_id: int,
    assembly: str,
    path: Path,
) -> None:
    if existing_assembly != assembly_id:
        other = connection.scalar(
            sa.select(assemblies.c.name).where(assemblies.c.id == existing_assembly)
        )
        raise InvalidArgument(
            f"{path}: condition {condition!r} belongs to assembly {other!r}, not {assembly!r}; "
            "a condition holds intervals of one assembly"
        )


def _chromosome_resolver(
    connection: Connection, assembly_id: int, assembly: str, path: Path
) -> tuple[Callable[[IntervalChunk], np.ndarray], np.ndarray]:
    """A function chunk -> chromosome positions in the assembly (chromosome id order),
    checking every name and every end against the assembly's chromosomes (InputFileError
    naming line, chromosome and length); and each chromosome's offset in the genome store.
    """
    rows = connection.execute(
        sa.select(chromosomes.c.name, chromosomes.c.id, chromosomes.c.length, chromosomes.c.offset)
        .where(chromosomes.c.assembly_id == assembly_id)
        .order_by(chromosomes.c.id)
    ).all()
    index = {row.name: position for position, row in enumerate(rows)}
    offsets = np.array([row.offset for row in rows], dtype=np.int64)
    lengths = np.array([row.length for row in rows], dtype=np.int64)

    def resolve(chunk: IntervalChunk) -> np.ndarray:
        positions = np.array([index.get(name, -1) for name in chunk.chromosome], dtype=np.int64)
        unknown = positions < 0
        if unknown.any():
            row = int(np.argmax(unknown))
            name = chunk.chromosome[row]
            raise InputFileError(
                path, int(chunk.line[row]), _unknown_chromosome(name, assembly, list(index))
            )
        too_long = chunk.end > lengths[positions]
        if too_long.any():
            row = int(np.argmax(too_long))
            name = chunk.chromosome[row]
            raise InputFileError(
                path,
                int(chunk.line[row]),
                f"end {chunk.end[row]} is past the end of {name} "
                f"(length {lengths[positions[row]]})",
            )
        return positions

    return resolve, offsets


def _unknown_chromosome(name: str, assembly: str, known: list[str]) -> str:
    message = f"chromosome {name!r} is not in assembly {assembly!r}"
    alternative = name[3:] if name.startswith("chr") else f"chr{name}"
    if alternative in known:
        return f"{message}; did you mean {alternative!r}?"
    if not known:
        return f"{message} (it has no chromosomes)"
    shown = ", ".join(known[:_NUM_HINT_NAMES])
    more = f", ... ({len(known)} in all)" if len(known) > _NUM_HINT_NAMES else ""
    return f"{message} (it has {shown}{more})"
