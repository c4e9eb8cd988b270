"""``add_assembly`` / ``remove_assembly``: the genome store file plus its catalog rows.

add:    check name -> write_store(FASTA or 2bit -> staging file in this ingest's scratch
        folder, <data_dir>/tmp/ingest-*/) -> one transaction: insert assembly + chromosome
        rows, publish the staging file as genomes/<name>.u8 -> commit
remove: one transaction deleting intervals, conditions, chromosomes, assembly -> unlink file

The store file is published inside the transaction with an exclusive hard link, so of two
concurrent adds of one name exactly one wins and the loser never touches the winner's file.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import sqlalchemy as sa

from peaksql.core.errors import AlreadyExists, InvalidArgument, NotFound
from peaksql.server.catalog import queries
from peaksql.server.catalog.generation import bump_generation
from peaksql.server.catalog.genome_store import ChromosomeRecord, GenomeStore
from peaksql.server.catalog.interval_store import bind_data_dir, delete_parts
from peaksql.server.catalog.parts import delete_assembly_parts
from peaksql.server.catalog.queries import AssemblyRecord
from peaksql.server.catalog.schema import assemblies, chromosomes, intervals
from peaksql.server.ingest.genome_writer import write_store
from peaksql.server.ingest.scratch import scratch_folder

#: A name that is also a safe file name: no path separators, no leading '.' or '-'.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: errno values of file systems without hard links; publishing then falls back to rename.
_NO_HARD_LINKS = {errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


def add_assembly(
    engine: sa.Engine,
    data_dir: Path,
    fasta: Path,
    name: str,
    species: str | None = None,
    *,
    progress: bool = True,
) -> AssemblyRecord:
    """Store ``fasta`` (FASTA or 2bit) as assembly ``name``: the store file, then all rows in
    one transaction.

    Raises InvalidArgument for an unsafe name, AlreadyExists for a taken one,
    InputFileError for a bad genome file and WriteError when the store cannot be written;
    on any failure neither rows nor a store file remain (a killed ingest's scratch folder is
    swept by the next one).
    """
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        raise InvalidArgument(
            f"assembly name {name!r} must start with a letter or digit and hold only "
            "letters, digits, '.', '_' and '-' (at most 128)"
        )
    with engine.connect() as connection:
        if queries.assembly_id(connection, name) is not None:
            raise AlreadyExists(
                f"assembly {name!r} already exists: remove it first "
                f"('peaksql remove assembly {name}') or choose another name"
            )
    bind_data_dir(engine, data_dir)
    store = GenomeStore(data_dir)
    path = store.store_path(name)
    if path.exists():
        raise AlreadyExists(
            f"assembly {name!r}: store file {path} exists but is not in the catalog "
            "(left by a crashed ingest?): delete it and try again"
        )
    with scratch_folder(data_dir) as scratch:
        staging = scratch / f"{name}{path.suffix}"
        records = write_store(Path(fasta), staging, progress=progress)
        _commit(engine, name, species, store, records, staging, path)
    length = sum(record.length for record in records)
    chromosome_rows = tuple((record.name, record.length) for record in records)
    return AssemblyRecord(name, species, length, chromosome_rows, store.relative(path))


def _commit(
    engine: sa.Engine,
    name: str,
    species: str | None,
    store: GenomeStore,
    records: list[ChromosomeRecord],
    staging: Path,
    path: Path,
) -> None:
    """Insert the rows and publish the staged store file in one transaction."""
    published = False
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with engine.begin() as connection:
            _insert_rows(connection, name, species, store.relative(path), records)
            _publish(staging, path, name)
            published = True
            bump_generation(connection)
    except sa.exc.IntegrityError:
        if published:
            path.unlink(missing_ok=True)
        raise AlreadyExists(
            f"assembly {name!r} was added at the same time by another ingest"
        ) from None
    except BaseException:
        if published:
            path.unlink(missing_ok=True)
        raise


def remove_assembly(engine: sa.Engine, data_dir: Path, name: str) -> None:
    """Delete an assembly with its chromosomes, intervals and the conditions that have
    intervals on no other assembly, then its store file.

    Dependent rows are deleted explicitly (not only by ON DELETE CASCADE) so that a SQLite
    connection without ``PRAGMA foreign_keys`` leaves no orphans.
    """
    with engine.begin() as connection:
        row = connection.execute(
            sa.select(assemblies.c.id, assemblies.c.store_file).where(assemblies.c.name == name)
        ).first()
        if row is None:
            known = queries.assembly_names(connection)
            raise NotFound(f"no assembly {name!r}; known: {', '.join(known) or 'none'}")
        chromosome_ids = sa.select(chromosomes.c.id).where(chromosomes.c.assembly_id == row.id)
        connection.execute(intervals.delete().where(intervals.c.chromosome_id.in_(chromosome_ids)))
        # its parts, and the conditions that lived only here
        removed_parts = delete_assembly_parts(connection, row.id)
        connection.execute(chromosomes.delete().where(chromosomes.c.assembly_id == row.id))
        connection.execute(assemblies.delete().where(assemblies.c.id == row.id))
        bump_generation(connection)
    (Path(data_dir) / row.store_file).unlink(missing_ok=True)
    delete_parts(Path(data_dir), removed_parts)


def _insert_rows(
    connection: sa.Connection,
    name: str,
    species: str | None,
    store_file: str,
    records: list[ChromosomeRecord],
) -> None:
    """The assembly row, then its chromosome rows in FASTA order (ids follow that order)."""
    result = connection.execute(
        assemblies.insert().values(
            name=name,
            species=species,
            length=sum(record.length for record in records),
            store_file=store_file,
        )
    )
    assert result.inserted_primary_key is not None  # an INSERT of one row
    assembly_id = result.inserted_primary_key[0]
    if records:
        connection.execute(
            chromosomes.insert(),
            [
                {
                    "assembly_id": assembly_id,
                    "name": record.name,
                    "length": record.length,
                    "offset": record.offset,
                }
                for record in records
            ],
        )


def _publish(staging: Path, path: Path, name: str) -> None:
    """Give the staged store file its final name, failing if that name is already taken."""
    try:
        os.link(staging, path)
    except FileExistsError:
        raise AlreadyExists(
            f"assembly {name!r}: store file {path} appeared while ingesting "
            "(another ingest of the same name?)"
        ) from None
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        if path.exists():
            raise AlreadyExists(f"assembly {name!r}: store file {path} already exists") from None
        os.replace(staging, path)
