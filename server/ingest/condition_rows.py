"""Catalog rows of an add-data call: the files and options it checks, condition rows.

``intervals.add_data_files`` (and ``signals.add_signal_files`` for signal tracks) checks
every file's condition here before reading any file, and fills the condition rows inside
its one committing transaction; ``DataInfo`` is what each file stored.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from peaksql.core.errors import AlreadyExists, InvalidArgument
from peaksql.server.catalog.condition_metadata import metadata_rows, replace_metadata_rows
from peaksql.server.catalog.schema import conditions
from peaksql.server.ingest.chromosomes import describe_skipped

_MAX_CONDITION_NAME = 255


@dataclass(frozen=True)
class DataInfo:
    """What one file stored: ``num_intervals`` counts this file's rows only (a signal
    track's: its runs).

    ``note`` says how the format was chosen when the content overruled the extension;
    ``skipped`` counts lines (a bigWig's runs) on unknown chromosomes by name
    (``skip_unknown_chromosomes``).
    """

    condition: str
    num_intervals: int
    format: str
    note: str | None = None
    skipped: Counter[str] = field(default_factory=Counter)

    def describe_skipped(self) -> str | None:
        """``12 lines on 3 unknown chromosomes: chrUn_x (7), ...``; None if none skipped."""
        if not self.skipped:
            return None
        return describe_skipped(self.skipped, "runs" if self.format == "bigwig" else "lines")


@dataclass(frozen=True)
class Options:
    """What every file of one call shares."""

    assembly: str
    condition: str | None
    append: bool
    metadata: dict[str, Any] | None
    progress: bool
    chunk_lines: int
    skip_unknown: bool


@dataclass(frozen=True)
class IngestFile:
    """One file of a call, checked before anything is read: format, note and condition."""

    path: Path
    format: str
    note: str | None
    condition: str


def check_condition_name(name: str) -> None:
    if not name or not name.strip():
        raise InvalidArgument("the condition name is empty")
    if len(name) > _MAX_CONDITION_NAME:
        raise InvalidArgument(
            f"condition name {name[:40]!r}... is {len(name)} characters long "
            f"(at most {_MAX_CONDITION_NAME})"
        )


def condition_names(connection: Connection) -> str:
    names = list(connection.scalars(sa.select(conditions.c.name).order_by(conditions.c.name)))
    return ", ".join(names) if names else "(none)"


def check_condition(
    connection: Connection, file: IngestFile, assembly_id: int, options: Options
) -> None:
    """Refuse a taken name without ``append``, or metadata no constraint could name, before
    reading any file; ``condition_id`` checks again inside the committing transaction. A
    condition may hold intervals of several assemblies: ``append`` of another assembly's
    file adds a part there."""
    del assembly_id  # a condition belongs to no single assembly
    metadata_rows(options.metadata or {})
    existing = connection.scalar(
        sa.select(conditions.c.id).where(conditions.c.name == file.condition)
    )
    if existing is not None and not options.append:
        _refuse_taken(file)


def refuse_repeated_names(files: list[IngestFile], options: Options) -> None:
    """Two files of one call into one condition need ``append`` (the second joins it)."""
    if options.append:
        return
    seen: set[str] = set()
    for file in files:
        if file.condition in seen:
            _refuse_taken(file)
        seen.add(file.condition)


def condition_id(
    connection: Connection, file: IngestFile, assembly_id: int, options: Options
) -> int:
    """The id of the condition to fill: a new row, or with ``append`` the existing one (on
    this or another assembly). Metadata rows (``condition_metadata``) follow the metadata
    JSON; the caller adds the ``parts`` row of ``assembly_id``."""
    del assembly_id
    metadata = options.metadata
    existing = connection.execute(
        sa.select(conditions.c.id, conditions.c.metadata).where(conditions.c.name == file.condition)
    ).first()
    if existing is None:
        inserted = connection.execute(
            conditions.insert().values(
                name=file.condition,
                metadata=_metadata_text(metadata),
                source_file=str(file.path.resolve()),
            )
        )
        assert inserted.inserted_primary_key is not None  # an INSERT of one row
        new_id = int(inserted.inserted_primary_key[0])
        replace_metadata_rows(connection, new_id, metadata or {})
        return new_id
    if not options.append:
        _refuse_taken(file)
    if metadata:
        merged = {**json.loads(existing.metadata or "{}"), **metadata}
        replace_metadata_rows(connection, int(existing.id), merged)
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


def _refuse_taken(file: IngestFile) -> None:
    raise AlreadyExists(
        f"{file.path}: condition {file.condition!r} already exists; pass append=True "
        "(--append) to add this file's data to it, or choose another condition name"
    )
