"""Read-only views of the catalog: assemblies with their chromosomes, conditions with their
assemblies, counts and metadata."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from peaksql.server.catalog.schema import (
    assemblies,
    chromosomes,
    conditions,
    parts,
    signal_tracks,
)


@dataclass(frozen=True)
class AssemblyRecord:
    """One assembly of the catalog: as ``list_assemblies`` lists it and ``add_assembly``
    returns it. ``store_file`` is relative to the data dir, '/'-separated.
    """

    name: str
    species: str | None
    length: int
    chromosomes: tuple[tuple[str, int], ...]
    store_file: str

    @property
    def num_chromosomes(self) -> int:
        return len(self.chromosomes)

    def as_dict(self) -> dict[str, Any]:
        """The listing's fields (``peaksql list --json``): name, species, length, chromosomes."""
        fields = asdict(self)
        del fields["store_file"]
        return fields


def assembly_id(connection: sa.Connection, name: str) -> int | None:
    """The id of assembly ``name``, None when there is none."""
    found = connection.scalar(sa.select(assemblies.c.id).where(assemblies.c.name == name))
    return None if found is None else int(found)


def chromosome_rows(connection: sa.Connection, assembly_id: int) -> list[sa.Row]:
    """The assembly's chromosomes (name, length, offset) in id order: a chromosome's
    position here is its index in the assembly, as signal tracks and ingest number it."""
    return list(
        connection.execute(
            sa.select(chromosomes.c.name, chromosomes.c.length, chromosomes.c.offset)
            .where(chromosomes.c.assembly_id == assembly_id)
            .order_by(chromosomes.c.id)
        )
    )


def assembly_names(connection: sa.Connection) -> list[str]:
    """The names of every assembly, sorted."""
    return list(connection.scalars(sa.select(assemblies.c.name).order_by(assemblies.c.name)))


def list_assemblies(engine: sa.Engine) -> list[AssemblyRecord]:
    """Every assembly with its chromosomes (name, length) in ingest order, by name."""
    query = (
        sa.select(
            assemblies.c.name,
            assemblies.c.species,
            assemblies.c.length,
            assemblies.c.store_file,
            chromosomes.c.name.label("chromosome"),
            chromosomes.c.length.label("chromosome_length"),
        )
        .select_from(assemblies.outerjoin(chromosomes))
        .order_by(assemblies.c.name, chromosomes.c.id)
    )
    grouped: dict[str, tuple[str | None, int, str, list[tuple[str, int]]]] = {}
    with engine.connect() as connection:
        for row in connection.execute(query):
            *_, chroms = grouped.setdefault(row.name, (row.species, row.length, row.store_file, []))
            if row.chromosome is not None:
                chroms.append((row.chromosome, int(row.chromosome_length)))
    return [
        AssemblyRecord(name, species, int(length), tuple(chroms), store_file)
        for name, (species, length, store_file, chroms) in grouped.items()
    ]


@dataclass(frozen=True)
class ConditionInfo:
    """One condition of the catalog, as ``list_conditions`` reports it.

    ``assembly`` names the assemblies it has intervals or signal tracks on, comma-separated
    and sorted (one name for most conditions); ``assemblies`` the same as a tuple.
    ``num_intervals`` counts its intervals (parts), ``num_runs`` the runs of its signal
    tracks and ``num_tracks`` those tracks (a stranded pair is two per assembly): a signal
    condition has tracks and no intervals. ``metadata`` is the JSON object given at ingest
    ({} when none).
    """

    name: str
    assembly: str
    num_intervals: int
    source_file: str | None
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)
    assemblies: tuple[str, ...] = ()
    num_runs: int = 0
    num_tracks: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The listing's fields (``peaksql list --json``): name, assembly, assemblies,
        num_intervals, num_runs, num_tracks, metadata."""
        return {
            "name": self.name,
            "assembly": self.assembly,
            "assemblies": list(self.assemblies),
            "num_intervals": self.num_intervals,
            "num_runs": self.num_runs,
            "num_tracks": self.num_tracks,
            "metadata": self.metadata,
        }


def list_conditions(engine: sa.Engine) -> list[ConditionInfo]:
    """Every condition with its assemblies, interval and signal run counts and metadata,
    sorted by name (assemblies and counts from ``parts`` and ``signal_tracks``)."""
    query = sa.select(
        conditions.c.id, conditions.c.name, conditions.c.source_file, conditions.c.metadata
    ).order_by(conditions.c.name)
    with engine.connect() as connection:
        intervals = _totals(connection, parts, parts.c.num_intervals)
        runs = _totals(connection, signal_tracks, signal_tracks.c.num_runs)
        infos = []
        for i, name, source, text in connection.execute(query):
            num_intervals, on_parts, _ = intervals.get(i, (0, (), 0))
            num_runs, on_tracks, num_tracks = runs.get(i, (0, (), 0))
            names = tuple(sorted({*on_parts, *on_tracks}))
            metadata = _metadata(text)
            infos.append(
                ConditionInfo(
                    name,
                    ",".join(names),
                    num_intervals,
                    source,
                    metadata,
                    names,
                    num_runs=num_runs,
                    num_tracks=num_tracks,
                )
            )
        return infos


def _totals(
    connection: sa.Connection, table: sa.Table, count: sa.Column
) -> dict[int, tuple[int, tuple[str, ...], int]]:
    """condition id -> (sum of ``count``, assembly names, rows) over ``table`` (parts or
    signal tracks: each has condition_id and assembly_id)."""
    query = (
        sa.select(table.c.condition_id, assemblies.c.name, sa.func.sum(count), sa.func.count())
        .join(assemblies, assemblies.c.id == table.c.assembly_id)
        .group_by(table.c.condition_id, assemblies.c.name)
    )
    found: dict[int, tuple[int, tuple[str, ...], int]] = {}
    for condition_id, assembly, total, rows in connection.execute(query):
        before, names, num_rows = found.get(condition_id, (0, (), 0))
        found[condition_id] = (before + int(total), (*names, assembly), num_rows + int(rows))
    return found


def _metadata(text: str | None) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {"value": value}


def condition_names(connection: sa.Connection) -> list[str]:
    """The names of every condition, sorted by code point."""
    return sorted(connection.scalars(sa.select(conditions.c.name)))
