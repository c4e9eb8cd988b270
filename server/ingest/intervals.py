"""Ingest interval files into the ``intervals`` table: file -> IntervalChunk -> rows -> bulk insert.

One file is one transaction: the condition row and every interval row are written together,
or, on any error (a bad line a million lines in included), nothing of the file is stored.
Rows go in by bulk paths, never a statement per row: COPY on PostgreSQL (psycopg 3), the
driver's ``executemany`` on SQLite, a SQLAlchemy multi-row insert elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from tqdm import tqdm

from peaksql.core.errors import AlreadyExists, InputFileError, InvalidArgument, NotFound
from peaksql.server.catalog import queries
from peaksql.server.catalog.columns import BY_NAME, OPTIONAL_FIELDS
from peaksql.server.catalog.generation import bump_generation
from peaksql.server.catalog.schema import (
    INTERVAL_FIELDS,
    assemblies,
    chromosomes,
    conditions,
    intervals,
)
from peaksql.server.ingest import formats
from peaksql.server.ingest.converters import NO_SUMMIT
from peaksql.server.ingest.reader import IntervalChunk, read_intervals
from peaksql.server.ingest.signals import add_signal_file

#: Known chromosome names shown in an "unknown chromosome" message.
_NUM_HINT_NAMES = 5
_MAX_CONDITION_NAME = 255
#: SQLite page cache during an ingest (KiB).
_SQLITE_INGEST_CACHE_KIB = 64 * 1024


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
    strand: str | None = None,
) -> DataInfo:
    """Store the intervals of ``path`` as condition ``condition`` of ``assembly``.

    Signal formats and files given a ``strand`` (+, -, "") become signal tracks (``signals``).

    ``fmt`` defaults to the one the extension names; ``condition`` to the file's stem. A taken
    condition name raises AlreadyExists unless ``append`` (the intervals then join it; it must
    belong to ``assembly``; ``metadata`` given then updates its metadata key by key).
    Bad lines raise InputFileError naming file, line and problem; nothing is stored then.
    ``chunk_lines`` bounds memory: lines parsed and inserted at a time.
    """
    path = Path(path)
    fmt = formats.resolve_format(path, fmt)
    condition = default_condition(path) if condition is None else condition
    _check_condition_name(condition)
    if formats.is_signal_format(fmt) or strand is not None:  # a signal track
        return add_signal_file(engine, path, assembly, condition, fmt, append, metadata, strand)
    size = path.stat().st_size if path.is_file() else None
    with engine.begin() as connection:
        assembly_id = _require_assembly(connection, assembly, path)
        condition_id = _condition_id(
            connection, condition, assembly, assembly_id, path, append, metadata
        )
        resolve = _chromosome_resolver(connection, assembly_id, assembly, path)
        num_intervals = 0
        with (
            _bulk_writer(connection) as write,
            tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                desc=f"{condition} ({path.name})",
                disable=not progress,
            ) as bar,
        ):
            for chunk in read_intervals(path, fmt, chunk_lines=chunk_lines):
                chromosome_ids = resolve(chunk)
                write(_columns(chunk, chromosome_ids, condition_id))
                num_intervals += len(chunk)
                bar.update(chunk.file_offset - bar.n)
        if num_intervals == 0:
            raise InputFileError(
                path, None, "no intervals (only blank, comment, track or browser lines)"
            )
        bump_generation(connection)
    return DataInfo(condition=condition, num_intervals=num_intervals, format=fmt)


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
        with _sqlite_page_cache(connection, _SQLITE_INGEST_CACHE_KIB):
            deleted = connection.execute(
                intervals.delete().where(intervals.c.condition_id == condition_id)
            ).rowcount
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
    if not append:
        raise AlreadyExists(
            f"{path}: condition {condition!r} already exists; pass append=True (--append) "
            "to add these intervals to it, or choose another condition name"
        )
    if existing.assembly_id != assembly_id:
        other = connection.scalar(
            sa.select(assemblies.c.name).where(assemblies.c.id == existing.assembly_id)
        )
        raise InvalidArgument(
            f"{path}: condition {condition!r} belongs to assembly {other!r}, not {assembly!r}; "
            "a condition holds intervals of one assembly"
        )
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


def _chromosome_resolver(
    connection: Connection, assembly_id: int, assembly: str, path: Path
) -> Callable[[IntervalChunk], np.ndarray]:
    """A function chunk -> chromosome ids, checking every name and every end against the
    assembly's chromosomes (InputFileError naming line, chromosome and length).
    """
    rows = connection.execute(
        sa.select(chromosomes.c.name, chromosomes.c.id, chromosomes.c.length)
        .where(chromosomes.c.assembly_id == assembly_id)
        .order_by(chromosomes.c.id)
    ).all()
    index = {name: position for position, (name, _, _) in enumerate(rows)}
    ids = np.array([row.id for row in rows], dtype=np.int64)
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
        return ids[positions]

    return resolve


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


# ---------------------------------------------------------------------------------------------
# bulk insert: columns of Python values (None for NULL) in INTERVAL_FIELDS order


def _nullable(values: np.ndarray, missing: np.ndarray) -> list[Any]:
    objects = values.astype(object)
    objects[missing] = None
    return objects.tolist()


def _columns(
    chunk: IntervalChunk, chromosome_ids: np.ndarray, condition_id: int
) -> list[Sequence[Any]]:
    """The chunk as one Python list per INTERVAL_FIELDS column (None for NULL)."""
    num = len(chunk)
    absent = [None] * num
    by_field: dict[str, Sequence[Any]] = {
        "chromosome_id": chromosome_ids.tolist(),
        "condition_id": [condition_id] * num,
        "start": chunk.start.tolist(),
        "end": chunk.end.tolist(),
    }
    for field in OPTIONAL_FIELDS:
        values = getattr(chunk, field)
        if values is None:
            by_field[field] = absent
        elif BY_NAME[field].kind == "text":
            by_field[field] = values
        elif BY_NAME[field].kind == "float":
            by_field[field] = _nullable(values, np.isnan(values))
        else:  # integer: the summit, -1 for none
            by_field[field] = _nullable(values, values == NO_SUMMIT)
    return [by_field[field] for field in INTERVAL_FIELDS]


Writer = Callable[[list[Sequence[Any]]], None]


@contextmanager
def _bulk_writer(connection: Connection) -> Iterator[Writer]:
    """The fastest bulk path the connection's driver offers."""
    dialect = connection.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        yield _copy_writer(connection)
    elif dialect.name == "sqlite":
        with _sqlite_page_cache(connection, _SQLITE_INGEST_CACHE_KIB):
            yield _executemany_writer(connection)
    else:
        yield _insert_writer(connection)


@contextmanager
def _sqlite_page_cache(connection: Connection, kib: int) -> Iterator[None]:
    """A larger SQLite page cache while rows go in: the two interval indexes take keys in
    file order, not sorted, and with the default 2 MiB cache each insert rereads B-tree pages
    (a million-line file: about 10 s -> 6 s). Restored afterwards for the pooled connection.
    A no-op on other databases.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    previous = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous)}")


def _copy_writer(connection: Connection) -> Writer:
    """PostgreSQL COPY (binary) through the psycopg 3 connection of this transaction."""
    preparer = connection.dialect.identifier_preparer
    table = preparer.format_table(intervals)
    columns = ", ".join(preparer.quote(field) for field in INTERVAL_FIELDS)
    statement = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
    types = [_postgres_type(intervals.c[field].type) for field in INTERVAL_FIELDS]
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None

    def write(columns: list[Sequence[Any]]) -> None:
        with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(types)
            for row in zip(*columns, strict=True):
                copy.write_row(row)

    return write


def _postgres_type(column_type: sa.types.TypeEngine[Any]) -> str:
    if isinstance(column_type, sa.BigInteger):
        return "int8"
    if isinstance(column_type, sa.Integer):
        return "int4"
    if isinstance(column_type, sa.Float):
        return "float8"
    return "text"


def _executemany_writer(connection: Connection) -> Writer:
    """SQLite: one ``executemany`` of tuples per chunk (dicts would cost more than the insert)."""
    preparer = connection.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(field) for field in INTERVAL_FIELDS)
    placeholders = ", ".join("?" * len(INTERVAL_FIELDS))
    statement = (
        f"INSERT INTO {preparer.format_table(intervals)} ({columns}) VALUES ({placeholders})"
    )

    def write(columns: list[Sequence[Any]]) -> None:
        connection.exec_driver_sql(statement, list(zip(*columns, strict=True)))

    return write


def _insert_writer(connection: Connection) -> Writer:
    """Any other database: SQLAlchemy's executemany of dicts."""

    def write(columns: list[Sequence[Any]]) -> None:
        rows = [dict(zip(INTERVAL_FIELDS, row, strict=True)) for row in zip(*columns, strict=True)]
        connection.execute(intervals.insert(), rows)

    return write
