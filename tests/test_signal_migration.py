"""``peaksql migrate`` rebuilds signal tracks of earlier versions: a track without zoom cells
or a bucket index (as written before them) is rewritten with both, byte for byte what an
ingest writes today, its row moved to the new folder in one transaction with the
generation, the old folder deleted; labels are unchanged (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog import signal_store
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.generation import read_generation
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.schema import signal_tracks
from peaksql.server.catalog.signal_store import INDEX_FILE, ZOOM_FILE, store_root, sweep_orphans
from peaksql.server.engine.batches import build_batch
from peaksql.server.engine.plan import compile_plan
from peaksql.server.ingest.example import build_example
from peaksql.server.ingest.signal_migration import is_stale, upgrade_tracks
from tests.test_cli import env, run  # noqa: F401  (env: the CLI's catalog fixture)
from tests.test_signal_ingest import example  # noqa: F401

NAMES = ("gc", "repeat_frac", "tss")


def _paths(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.scalars(sa.select(signal_tracks.c.path)))


def _age(folder: Path) -> None:
    """Make ``folder`` a track as written before zoom cells and the index file."""
    meta = json.loads((folder / "meta.json").read_text())
    del meta["zoom"], meta["index"]
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / f"{ZOOM_FILE}.bin").unlink()
    (folder / f"{INDEX_FILE}.bin").unlink()
    signal_store._TRACKS.pop(folder, None)  # as a new process would open it


def _labels(engine: sa.Engine, data_dir: Path) -> np.ndarray:
    """Mean per 32-bp bin, gaps as zero, tiled on zoom cells (the zoom path when cells exist)."""
    spec = DatasetSpec(seq_length=1024, stride=512, label="signal", bin_size=32, conditions=NAMES)
    plan = compile_plan(engine, GenomeStore(data_dir), spec)
    return build_batch(plan, np.arange(0, plan.num_windows, 3)).labels


def test_tracks_of_earlier_versions_are_rebuilt_as_ingest_writes_them(example) -> None:  # noqa: F811
    engine, data_dir = example
    before = _labels(engine, data_dir)
    root = store_root(data_dir)
    written = {
        path: {
            name: (root / path / f"{name}.bin").read_bytes()
            for name in (ZOOM_FILE, INDEX_FILE, "cum_sum")
        }
        for path in _paths(engine)
    }
    for path in written:
        _age(root / path)
    np.testing.assert_allclose(_labels(engine, data_dir), before, rtol=1e-5, atol=1e-6)
    generation = read_generation(engine)

    replaced = upgrade_tracks(engine, data_dir)

    assert sorted(replaced) == sorted(written)
    assert read_generation(engine) > generation
    new = _paths(engine)
    assert not set(new) & set(written) and len(new) == len(written)
    assert {p.name for p in root.iterdir() if p.is_dir()} == set(new)  # old folders gone
    rebuilt = sorted((root / path / f"{ZOOM_FILE}.bin").read_bytes() for path in new)
    assert rebuilt == sorted(files[ZOOM_FILE] for files in written.values())
    indexes = sorted((root / path / f"{INDEX_FILE}.bin").read_bytes() for path in new)
    assert indexes == sorted(files[INDEX_FILE] for files in written.values())
    for path in new:
        assert not is_stale(json.loads((root / path / "meta.json").read_text()))
    np.testing.assert_array_equal(_labels(engine, data_dir), before)
    assert upgrade_tracks(engine, data_dir) == []  # nothing left to do


def test_peaksql_migrate_rebuilds_old_tracks(env: dict[str, str]) -> None:  # noqa: F811
    run("example", "-q", env=env)
    root = store_root(Path(env["PEAKSQL_DATA_DIR"]))
    folders = [p for p in root.iterdir() if p.is_dir()]
    _age(folders[0])
    out = run("migrate", env=env).stdout
    assert "rebuilt 1 signal tracks of earlier versions (zoom cells, index)" in out
    assert folders[0].name not in {p.name for p in root.iterdir()}
    assert "rebuilt" not in run("migrate", env=env).stdout


#: Upgrades the catalog's tracks, pausing (to be killed) once the second new folder is
#: renamed into place and before its row is committed.
_CHILD = """
import sys, time
from pathlib import Path
from peaksql.server.catalog.database import open_database
import peaksql.server.ingest.signal_writer as writer
from peaksql.server.ingest.signal_migration import upgrade_tracks

data_dir = Path(sys.argv[1])
finish, calls = writer.TrackWriter.finish, []
def pausing(self):
    name = finish(self)
    calls.append(name)
    if len(calls) == 2:
        print("PAUSED", flush=True)
        time.sleep(60)
    return name
writer.TrackWriter.finish = pausing
upgrade_tracks(open_database(data_dir / "catalog.db", data_dir=data_dir), data_dir)
"""


def test_sigkill_during_migrate_leaves_every_track_serving(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    engine = open_database(data_dir / "catalog.db", data_dir=data_dir)
    build_example(engine, data_dir, progress=False)
    before = _labels(engine, data_dir)
    for path in _paths(engine):
        _age(store_root(data_dir) / path)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.stdout.readline().strip() != "PAUSED":
        pass
    child.send_signal(signal.SIGKILL)
    child.wait()
    paths = _paths(engine)
    stale = [
        p
        for p in paths
        if is_stale(json.loads((store_root(data_dir) / p / "meta.json").read_text()))
    ]
    assert len(stale) == len(paths) - 1  # the first rebuilt track committed, the second not
    for path in paths:
        signal_store._TRACKS.pop(store_root(data_dir) / path, None)
    np.testing.assert_allclose(_labels(engine, data_dir), before, rtol=1e-5, atol=1e-6)
    assert len(sweep_orphans(engine, data_dir)) == 1  # the uncommitted new folder
    upgrade_tracks(engine, data_dir)
    np.testing.assert_array_equal(_labels(engine, data_dir), before)
