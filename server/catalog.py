"""Read-only views of the catalog: assemblies with their chromosomes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import sqlalchemy as sa

from peaksql.server.db.schema import assemblies, chromosomes


@dataclass(frozen=True)
class AssemblyRecord:
    name: str
    species: str | None
    length: int
    chromosomes: tuple[tuple[str, int], ...]

    def as_dict(self) -> dict:
        return asdict(self)


def list_assemblies(engine: sa.Engine) -> list[AssemblyRecord]:
    """Every assembly with its chromosomes (name, length) in ingest order, by name."""
    query = (
        sa.select(
            assemblies.c.name,
            assemblies.c.species,
            assemblies.c.length,
            chromosomes.c.name.label("chromosome"),
            chromosomes.c.length.label("chromosome_length"),
        )
        .select_from(assemblies.outerjoin(chromosomes))
        .order_by(assemblies.c.name, chromosomes.c.id)
    )
    grouped: dict[str, tuple[str | None, int, list[tuple[str, int]]]] = {}
    with engine.connect() as connection:
        for row in connection.execute(query):
            _, _, chroms = grouped.setdefault(row.name, (row.species, row.length, []))
            if row.chromosome is not None:
                chroms.append((row.chromosome, int(row.chromosome_length)))
    return [
        AssemblyRecord(name, species, int(length), tuple(chroms))
        for name, (species, length, chroms) in grouped.items()
    ]
