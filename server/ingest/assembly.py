"""``add_assembly`` / ``remove_assembly``: the genome store file plus its catalog rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from peaksql.errors import AlreadyExists, InvalidArgument, NotFound
from peaksql.server.db.schema import assemblies, chromosomes, conditions, intervals
from peaksql.server.genome import GenomeStore, write_store

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class AssemblyInfo:
    name: str
    species: str | None
    length: int
    num_chromosomes: int
    store_file: str


def _assembly_id(connection: sa.Connection, name: str) -> int | None:
    return connection.scalar(sa.select(assemblies.c.id).where(assemblies.c.name == name))


def add_assembly(
    engine: sa.Engine,
    data_dir: Path,
    fasta: Path,
    name: str,
    species: str | None = None,
    *,
    progress: bool = True,
) -> AssemblyInfo:
    """Store ``fasta`` as assembly ``name``: the store file, then all rows in one transaction."""
    if not _SAFE_NAME.match(name):
        raise InvalidArgument(
            f"assembly name {name!r} must start with a letter or digit and hold only "
            "letters, digits, '.', '_' and '-' (at most 128)"
        )
    with engine.connect() as connection:
        if _assembly_id(connection, name) is not None:
            raise AlreadyExists(
                f"assembly {name!r} already exists: remove it first "
                f"('peaksql remove assembly {name}') or choose another --name"
            )
    store = GenomeStore(data_dir)
    path = store.store_path(name)
    if path.exists():
        raise AlreadyExists(f"store file {path} exists but is not in the catalog: remove it")
    records = write_store(Path(fasta), path, progress=progress)
    try:
        with engine.begin() as connection:
            result = connection.execute(
                assemblies.insert().values(
                    name=name,
                    species=species,
                    length=sum(r.length for r in records),
                    store_file=store.relative(path),
                )
            )
            assembly_id = result.inserted_primary_key[0]
            connection.execute(
                chromosomes.insert(),
                [
                    {
                        "assembly_id": assembly_id,
                        "name": r.name,
                        "length": r.length,
                        "offset": r.offset,
                    }
                    for r in records
                ],
            )
    except sa.exc.IntegrityError as error:
        path.unlink(missing_ok=True)
        raise AlreadyExists(f"assembly {name!r} was added concurrently: {error.orig}") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return AssemblyInfo(
        name, species, sum(r.length for r in records), len(records), store.relative(path)
    )


def remove_assembly(engine: sa.Engine, data_dir: Path, name: str) -> None:
    """Delete an assembly with its chromosomes, conditions and intervals, then its store file."""
    with engine.begin() as connection:
        row = connection.execute(
            sa.select(assemblies.c.id, assemblies.c.store_file).where(assemblies.c.name == name)
        ).first()
        if row is None:
            known = list(connection.scalars(sa.select(assemblies.c.name)))
            raise NotFound(f"no assembly {name!r}; known: {', '.join(known) or 'none'}")
        chrom_ids = sa.select(chromosomes.c.id).where(chromosomes.c.assembly_id == row.id)
        connection.execute(intervals.delete().where(intervals.c.chromosome_id.in_(chrom_ids)))
        connection.execute(conditions.delete().where(conditions.c.assembly_id == row.id))
        connection.execute(chromosomes.delete().where(chromosomes.c.assembly_id == row.id))
        connection.execute(assemblies.delete().where(assemblies.c.id == row.id))
    (Path(data_dir) / row.store_file).unlink(missing_ok=True)
