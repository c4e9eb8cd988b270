"""The catalog generation: migration 0002, a bump per add and remove, plans keyed by it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from peaksql.core.errors import InputFileError
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.database import (
    create_database_engine,
    head_revision,
    open_database,
    schema_revision,
    upgrade,
)
from peaksql.server.catalog.generation import bump_generation, read_generation
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.schema import assemblies, catalog_state
from peaksql.server.config import Limits
from peaksql.server.engine.batches import build_batch
from peaksql.server.engine.dataset_engine import DatasetEngine
from peaksql.server.engine.plan import Plan
from peaksql.server.ingest.assembly import add_assembly, remove_assembly
from peaksql.server.ingest.intervals import add_data, remove_condition


def _fasta(folder: Path) -> Path:
    path = folder / "g.fa"
    path.write_text(">c1\n" + "ACGT" * 50 + "\n>c2\n" + "TTGCA" * 20 + "\n")
    return path


def _bed(folder: Path, name: str, lines: list[tuple[str, int, int]]) -> Path:
    path = folder / name
    path.write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in lines))
    return path


def test_migration_0002_upgrades_a_catalog_made_at_0001(db_url: str) -> None:
    engine = create_database_engine(db_url)
    try:
        upgrade(engine, "0001")
        assert schema_revision(engine) == "0001"
        with engine.begin() as connection:
            connection.execute(
                assemblies.insert().values(name="old", length=10, store_file="old.u8")
            )
        engine.dispose()
        engine = open_database(db_url)
        assert schema_revision(engine) == head_revision()
        assert read_generation(engine) == 0
        with engine.connect() as connection:
            assert connection.scalar(sa.select(assemblies.c.name)) == "old"
            assert connection.execute(sa.select(catalog_state)).all() == [(1, 0)]
        with engine.begin() as connection:
            assert bump_generation(connection) == 1
            with pytest.raises(sa.exc.IntegrityError), connection.begin_nested():  # one row
                connection.execute(catalog_state.insert().values(id=2, generation=0))
        assert read_generation(engine) == 1
    finally:
        engine.dispose()


def test_every_add_and_remove_bumps_the_generation_once(db_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    engine = open_database(db_url)
    try:
        seen = [read_generation(engine)]

        def bumped() -> bool:
            seen.append(read_generation(engine))
            return seen[-1] == seen[-2] + 1

        add_assembly(engine, data_dir, _fasta(tmp_path), "g", progress=False)
        assert bumped()
        add_data(engine, _bed(tmp_path, "a.bed", [("c1", 0, 10)]), "g", "a", progress=False)
        assert bumped()
        more = _bed(tmp_path, "more.bed", [("c2", 5, 15)])
        add_data(engine, more, "g", "a", append=True, progress=False)
        assert bumped()
        with pytest.raises(InputFileError):  # nothing stored: no bump
            add_data(engine, _bed(tmp_path, "bad.bed", [("c9", 0, 1)]), "g", progress=False)
        assert read_generation(engine) == seen[-1]
        assert remove_condition(engine, "a").intervals == 2
        assert bumped()
        remove_assembly(engine, data_dir, "g")
        assert bumped()
    finally:
        engine.dispose()


def test_a_plan_is_recompiled_after_remove_and_re_add_of_the_same_size(tmp_path: Path) -> None:
    """SQLite reuses freed ids and the row counts stay equal: only the generation tells."""
    data_dir = tmp_path / "data"
    engine = open_database(tmp_path / "catalog.db")
    try:
        add_assembly(engine, data_dir, _fasta(tmp_path), "g", progress=False)
        add_data(engine, _bed(tmp_path, "a.bed", [("c1", 0, 10)]), "g", "a", progress=False)
        compiled: list[Plan] = []
        datasets = DatasetEngine(engine, GenomeStore(data_dir), Limits(), compiled.append)
        spec = DatasetSpec(seq_length=10, stride=10, where="assembly = 'g'")
        first = datasets.plan(spec)
        assert datasets.plan(spec) is first and len(compiled) == 1
        before = datasets.positives(first).tolist()
        remove_condition(engine, "a")
        add_data(engine, _bed(tmp_path, "b.bed", [("c1", 50, 60)]), "g", "a", progress=False)
        second = datasets.plan(spec)
        assert second is not first and len(compiled) == 2
        assert datasets.positives(second).tolist() == before  # one window either way...
        windows = np.arange(first.num_windows)
        old, new = build_batch(first, windows).labels, build_batch(second, windows).labels
        assert not np.array_equal(old, new)  # ...but not the same one
    finally:
        engine.dispose()
