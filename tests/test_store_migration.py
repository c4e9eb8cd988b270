"""The interval store's visibility: a catalog made before the store migrates into parts, and a
SIGKILL during add-data or remove leaves catalog and store consistent (re-running succeeds)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.database import head_revision, open_database, schema_revision
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.interval_store import store_root
from peaksql.server.catalog.queries import list_conditions
from peaksql.server.catalog.schema import intervals, parts
from peaksql.server.engine.plan import compile_plan
from tests.helpers import store_rows

LEGACY = Path(__file__).parent / "data" / "legacy_0002"


def _legacy_copy(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(LEGACY, data_dir)
    return data_dir


def _plan_labels(engine: sa.Engine, data_dir: Path, where: str) -> tuple[list[str], np.ndarray]:
    spec = DatasetSpec(seq_length=200, stride=100, where=where)
    plan = compile_plan(engine, GenomeStore(data_dir), spec)
    starts = plan.region_bases[0] + np.arange(0, 4000, 100, dtype=np.int64)
    return plan.label_columns, plan.coverage.covered(starts, 200)


def test_a_catalog_made_before_the_store_migrates_into_parts(tmp_path: Path) -> None:
    data_dir = _legacy_copy(tmp_path)
    db = data_dir / "catalog.sqlite"
    old = sa.create_engine(f"sqlite:///{db}")
    with old.connect() as connection:
        before = connection.execute(sa.select(intervals.c.condition_id, sa.func.count())
                                    .group_by(intervals.c.condition_id)).all()  # fmt: skip
    old.dispose()

    engine = open_database(db, data_dir=data_dir)
    assert schema_revision(engine) == head_revision()  # 0004 (the store), then 0005 (signal tracks)
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(intervals)) == 0
        after = dict(
            connection.execute(sa.select(parts.c.condition_id, parts.c.num_intervals)).all()
        )
    assert after == dict(before)
    assert {c.name: c.num_intervals for c in list_conditions(engine)} == {
        "blacklist": 15, "peaks": 40, "signal": 16}  # fmt: skip
    peaks = store_rows(engine, "peaks")
    assert any(row[7] is None for row in peaks) and any(row[5] is None for row in peaks)
    columns, covered = _plan_labels(engine, data_dir, "p_value > 5 OR name LIKE 'CTCF%'")
    assert columns == ["peaks"] and covered.sum() > 0

    engine.dispose()
    again = open_database(db, data_dir=data_dir)  # idempotent: nothing left to convert
    assert {c.name: c.num_intervals for c in list_conditions(again)} == {
        "blacklist": 15, "peaks": 40, "signal": 16}  # fmt: skip
    again.dispose()


_CHILD = """
import sys, time
from pathlib import Path
from peaksql.server.catalog.database import open_database
import peaksql.server.ingest.intervals as ingest
import peaksql.server.ingest.store_writer as writer

data_dir, db, action, pause_at = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
engine = open_database(db, data_dir=data_dir)
if pause_at == "after_rename":
    original = writer.PartBuilder.write
    def write(self, data_dir):
        name = original(self, data_dir)
        print("PAUSED", flush=True); time.sleep(60)
        return name
    writer.PartBuilder.write = write
elif pause_at == "after_commit":
    original = ingest.delete_parts
    def delete_parts(data_dir, names):
        print("PAUSED", flush=True); time.sleep(60)
        original(data_dir, names)
    ingest.delete_parts = delete_parts
if action == "add":
    ingest.add_data(engine, data_dir / "extra.bed", "legacy", "extra", progress=False)
else:
    ingest.remove_condition(engine, "peaks")
"""


def _killed_child(data_dir: Path, action: str, pause_at: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(data_dir),
         str(data_dir / "catalog.sqlite"), action, pause_at],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.stdout.readline().strip() == "PAUSED":
            break
    child.send_signal(signal.SIGKILL)
    child.wait()


def _consistent(engine: sa.Engine, data_dir: Path) -> set[str]:
    """Every committed part is complete on disk; returns the folders no row names."""
    with engine.connect() as connection:
        committed = set(connection.scalars(sa.select(parts.c.path)))
    on_disk = {p.name for p in store_root(data_dir).iterdir() if p.name != ".lock"}
    for name in committed:
        assert (store_root(data_dir) / name / "meta.json").is_file()
    assert committed <= on_disk
    return on_disk - committed


def test_sigkill_during_add_data_and_remove_leaves_nothing_half_visible(tmp_path: Path) -> None:
    data_dir = _legacy_copy(tmp_path)
    (data_dir / "extra.bed").write_text("chrA\t10\t50\nchrB\t0\t100\n")
    engine = open_database(data_dir / "catalog.sqlite", data_dir=data_dir)
    names = {c.name for c in list_conditions(engine)}

    _killed_child(data_dir, "add", "after_rename")  # part renamed into place, row not committed
    assert {c.name for c in list_conditions(engine)} == names
    assert len(_consistent(engine, data_dir)) == 1  # the orphan
    _killed_child(data_dir, "remove", "after_commit")  # rows deleted, files not yet
    assert {c.name for c in list_conditions(engine)} == names - {"peaks"}
    assert len(_consistent(engine, data_dir)) == 2

    from peaksql.server.ingest.intervals import add_data

    add_data(engine, data_dir / "extra.bed", "legacy", "extra", progress=False)  # sweeps
    assert _consistent(engine, data_dir) == set()
    assert {c.name for c in list_conditions(engine)} == (names - {"peaks"}) | {"extra"}
    assert store_rows(engine, "extra")[0][:3] == ("chrA", 10, 50)
    engine.dispose()


def test_peaksql_migrate_converts_and_sweeps_both(tmp_path: Path, capsys) -> None:
    """``peaksql migrate``: legacy rows into parts, scratch, store and signal orphans swept."""
    from peaksql.server.cli import main

    data_dir = _legacy_copy(tmp_path)
    orphan = data_dir / "intervals" / "p-orphan"
    orphan.mkdir(parents=True)
    track = data_dir / "signals" / ".staging-0123abcd"  # a signal ingest killed mid-write
    track.mkdir(parents=True)
    (data_dir / "tmp").mkdir(exist_ok=True)
    db = str(data_dir / "catalog.sqlite")
    assert main(["migrate", "--db", db, "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "moved the intervals of 3 conditions into the interval store" in out
    assert "removed 1 signal tracks of interrupted ingests or removals" in out
    assert not orphan.exists() and not track.exists()
    engine = open_database(db, data_dir=data_dir)
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(intervals)) == 0
        assert connection.scalar(sa.select(sa.func.count()).select_from(parts)) == 3


def test_a_plan_racing_a_removal_reads_the_rows_again(tmp_path: Path, monkeypatch) -> None:
    """A removal commits between the plan's read of the parts' rows and its opening of the
    parts: the folder is gone, the plan reads the rows again and succeeds without it."""
    from peaksql.server.engine import plan as plan_module
    from peaksql.server.ingest.intervals import remove_condition

    data_dir = _legacy_copy(tmp_path)
    engine = open_database(data_dir / "catalog.sqlite", data_dir=data_dir)
    real, calls = plan_module.part_rows, []

    def racing(connection, wanted, *rest):
        rows = real(connection, wanted, *rest)
        calls.append(len(rows))
        if len(calls) == 1:
            remove_condition(engine, "signal")  # rows and folder gone before the plan opens it
        return rows

    monkeypatch.setattr(plan_module, "part_rows", racing)
    columns, _ = _plan_labels(engine, data_dir, "")
    assert calls == [3, 2] and "signal" not in columns
