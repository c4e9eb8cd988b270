"""Signal add-data as interval add-data: chromosome names through the same aliases (built in,
``--chromosome-aliases``) and skips, every file of a call in one transaction (a bad second
file leaves catalog and ``<data_dir>/signals`` as they were), and a SIGKILL mid-call leaves
nothing visible, swept by the next run. The bundled example on SQLite and PostgreSQL; values
against pyBigWig and a painted reference."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyBigWig
import pytest
import sqlalchemy as sa

from peaksql.core.errors import AlreadyExists, InputFileError
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.generation import read_generation
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.schema import conditions, signal_tracks
from peaksql.server.catalog.signal_store import store_root
from peaksql.server.engine.batches import build_batch
from peaksql.server.engine.plan import compile_plan
from peaksql.server.ingest.example import EXAMPLE_ASSEMBLY, build_example, example_dir
from peaksql.server.ingest.intervals import add_data, add_data_files
from peaksql.server.ingest.signals import add_stranded_pair
from tests import reference as ref
from tests.test_cli import run

CHROM, LENGTH = "chr20", 2_000_000
Run = tuple[int, int, float]


@pytest.fixture
def example(db_url: str, data_dir: Path) -> Iterator[tuple[sa.Engine, Path]]:
    engine = open_database(db_url, data_dir=data_dir)
    build_example(engine, data_dir, progress=False)
    yield engine, data_dir
    engine.dispose()


def gc_runs() -> list[Run]:
    """The example GC track's runs on chr20, as pyBigWig reads them."""
    handle = pyBigWig.open(str(example_dir() / "gc_100bp.bw"))
    runs = [(int(s), int(e), float(v)) for s, e, v in handle.intervals(CHROM)]
    handle.close()
    return runs


def write_bigwig(path: Path, chromosomes: dict[str, list[Run]], size: int = LENGTH) -> Path:
    """A bigWig of ``chromosomes`` (name -> runs), in the order given, each ``size`` bp."""
    handle = pyBigWig.open(str(path), "w")
    handle.addHeader([(name, size) for name in chromosomes], maxZooms=0)
    for name, runs in chromosomes.items():
        starts, ends, values = (list(column) for column in zip(*runs, strict=True))
        handle.addEntries([name] * len(runs), starts, ends=ends, values=values)
    handle.close()
    return path


def snapshot(engine: sa.Engine, data_dir: Path) -> tuple[list, list, int, list[str]]:
    """Condition names, track rows, the catalog generation and the signals folder's entries."""
    with engine.connect() as connection:
        names = sorted(connection.scalars(sa.select(conditions.c.name)))
        tracks = sorted(connection.execute(sa.select(signal_tracks)).all())
    folders = sorted(p.name for p in store_root(data_dir).iterdir())
    return names, tracks, read_generation(engine), folders


def labels(engine: sa.Engine, data_dir: Path, names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """(window starts, labels): mean per 50 bp bin over gaps skipped, ``names`` as columns."""
    spec = DatasetSpec(seq_length=1000, stride=997, label="signal", bin_size=50,
                       signal_gaps="skip", conditions=names)  # fmt: skip
    batch = build_batch(compile_plan(engine, GenomeStore(data_dir), spec), np.arange(0, 2000, 7))
    return batch.starts, batch.labels


# --- chromosome names ------------------------------------------------------------------------


def test_a_bigwig_on_20_labels_as_the_one_on_chr20(example, tmp_path: Path) -> None:
    """Built-in aliases: a bigWig whose chromosome is ``20`` is the example's ``chr20``."""
    engine, data_dir = example
    runs = gc_runs()
    path = write_bigwig(tmp_path / "gc_ensembl.bw", {"20": runs})
    info = add_data(engine, path, EXAMPLE_ASSEMBLY, progress=False, data_dir=data_dir)
    assert (info.condition, info.num_intervals, info.format) == ("gc_ensembl", len(runs), "bigwig")
    starts, y = labels(engine, data_dir, ("gc", "gc_ensembl"))
    np.testing.assert_array_equal(y[:, 1], y[:, 0])
    handle = pyBigWig.open(str(path))  # the reference reads the "20" file itself
    for i, start in enumerate(starts):
        want = handle.stats("20", int(start), int(start) + 1000, nBins=20, exact=True)
        want = np.array([np.nan if v is None else v for v in want])
        np.testing.assert_allclose(y[i, 1], want, rtol=1e-6)


def test_an_alias_file_resolves_bigwig_and_bedgraph_names(example, tmp_path: Path) -> None:
    engine, data_dir = example
    aliases = tmp_path / "hg19.chromAlias.txt"
    aliases.write_text("# ucsc\tgenbank\trefseq\nchr20\tCM000682.1\tNC_000020.10\n")
    runs = gc_runs()[:3000]
    bigwig = write_bigwig(tmp_path / "refseq.bw", {"NC_000020.10": runs})
    bedgraph = tmp_path / "genbank.bedGraph"
    rows = [("CM000682.1", s, e, v) for s, e, v in [(10, 500, 1.5), (700, 900, -2.0)]]
    bedgraph.write_text(
        "track type=bedGraph\n" + "".join(f"{c}\t{s}\t{e}\t{v}\n" for c, s, e, v in rows)
    )
    before = snapshot(engine, data_dir)
    with pytest.raises(InputFileError) as refused:
        add_data_files(engine, [bigwig, bedgraph], EXAMPLE_ASSEMBLY, strand="", progress=False)
    assert str(refused.value).startswith(f"{bigwig}: chromosome 'NC_000020.10' is not in ")
    assert "--chromosome-aliases" in str(refused.value)
    assert snapshot(engine, data_dir) == before

    infos = add_data_files(
        engine, [bigwig, bedgraph], EXAMPLE_ASSEMBLY, strand="", progress=False,
        chromosome_aliases=aliases,
    )  # fmt: skip
    assert [(i.condition, i.num_intervals) for i in infos] == [("refseq", 3000), ("genbank", 2)]
    starts, y = labels(engine, data_dir, ("refseq", "genbank"))
    painted = [
        ref.paint_signal([(CHROM, s, e, v) for s, e, v in runs], CHROM, LENGTH),
        ref.paint_signal([(CHROM, s, e, v) for _, s, e, v in rows], CHROM, LENGTH),
    ]
    for i, start in enumerate(starts):
        for c, per_base in enumerate(painted):
            want = ref.aggregate_signal(per_base, int(start), 1000, 50, "mean", "skip")
            np.testing.assert_allclose(y[i, c], want, rtol=2e-6)


def test_unknown_chromosomes_are_refused_or_skipped_and_counted(example, tmp_path: Path) -> None:
    engine, _ = example
    contig = [(0, 10, 1.0), (20, 30, 2.0), (40, 50, 3.0)]
    path = write_bigwig(
        tmp_path / "with_contig.bw", {"chr20": gc_runs()[:10], "chrUn_gl000": contig}
    )
    with pytest.raises(InputFileError, match=r"chrUn_gl000.*--skip-unknown-chromosomes"):
        add_data(engine, path, EXAMPLE_ASSEMBLY, progress=False)
    info = add_data(engine, path, EXAMPLE_ASSEMBLY, progress=False, skip_unknown_chromosomes=True)
    assert info.num_intervals == 10 and info.skipped == Counter({"chrUn_gl000": 3})
    assert info.describe_skipped() == "3 runs on 1 unknown chromosome: chrUn_gl000 (3)"

    bedgraph = tmp_path / "contig.bedGraph"
    bedgraph.write_text("chrUn_gl000\t0\t10\t1\n20\t5\t9\t2.5\nchrUn_gl000\t20\t30\t1\n")
    with pytest.raises(
        InputFileError, match=re.escape(f"{bedgraph}, line 1: chromosome 'chrUn_gl000'")
    ):
        add_data(engine, bedgraph, EXAMPLE_ASSEMBLY, strand="", progress=False)
    info = add_data(
        engine, bedgraph, EXAMPLE_ASSEMBLY, strand="", progress=False, skip_unknown_chromosomes=True
    )
    assert info.num_intervals == 1 and info.skipped == Counter({"chrUn_gl000": 2})
    only = write_bigwig(tmp_path / "only_contig.bw", {"chrUn_gl000": contig})
    with pytest.raises(InputFileError, match=r"no runs with a value; skipped 3 runs on 1 unknown"):
        add_data(engine, only, EXAMPLE_ASSEMBLY, progress=False, skip_unknown_chromosomes=True)


def test_a_chromosome_named_twice_or_too_long_names_the_file(example, tmp_path: Path) -> None:
    engine, data_dir = example
    before = snapshot(engine, data_dir)
    twice = write_bigwig(tmp_path / "twice.bw", {"chr20": [(0, 5, 1.0)], "20": [(9, 12, 1.0)]})
    with pytest.raises(
        InputFileError, match=f"^{re.escape(str(twice))}: chromosomes chr20 and 20 .*same"
    ):
        add_data(engine, twice, EXAMPLE_ASSEMBLY, progress=False)
    long = write_bigwig(tmp_path / "long.bw", {"20": [(0, 5, 1.0)]}, size=LENGTH + 1)
    with pytest.raises(InputFileError, match=r"20 \(chr20 of .*\) is 2,000,001 bp here"):
        add_data(engine, long, EXAMPLE_ASSEMBLY, progress=False)
    assert snapshot(engine, data_dir) == before


def test_a_stranded_pair_takes_aliases(example, tmp_path: Path) -> None:
    engine, data_dir = example
    plus = write_bigwig(tmp_path / "cage_plus.bw", {"20": [(100, 200, 3.0)]})
    minus = write_bigwig(tmp_path / "cage_minus.bw", {"20": [(300, 350, 1.0)]})
    assert add_stranded_pair(engine, plus, minus, EXAMPLE_ASSEMBLY, data_dir=data_dir) == 2
    spec = DatasetSpec(seq_length=1000, label="signal", aggregate="sum", conditions=("cage",))
    plan = compile_plan(engine, GenomeStore(data_dir), spec)
    assert plan.label_columns == ["cage:+", "cage:-"]
    assert build_batch(plan, np.arange(1)).labels[0].tolist() == [300.0, 50.0]


# --- one transaction per call ----------------------------------------------------------------


def _bad_second_file(case: str, tmp_path: Path) -> tuple[Path, str, bool]:
    """(the bad file, what its error says, whether the call appends)."""
    if case == "unknown chromosome":
        return write_bigwig(tmp_path / "b.bw", {"chrQ": [(0, 5, 1.0)]}), "'chrQ'", False
    if case == "bad bedGraph line":
        path = tmp_path / "b.bedGraph"
        path.write_text("chr20\t0\t10\t1\nchr20\t20\t30\t1\nchr20\t40\tfifty\t1\n")
        return path, f"{path}, line 3", False
    # a strand the condition has: found inside the committing transaction, after both
    # tracks were written and renamed into place
    folder = tmp_path / "again"
    folder.mkdir()
    return write_bigwig(folder / "gc.bw", {"chr20": [(0, 5, 1.0)]}), "already has", True


@pytest.mark.parametrize("case", ["unknown chromosome", "bad bedGraph line", "taken strand"])
def test_a_bad_second_file_stores_nothing_of_the_first(example, tmp_path: Path, case) -> None:
    engine, data_dir = example
    first = write_bigwig(tmp_path / "first.bw", {"chr20": gc_runs()})
    second, says, append = _bad_second_file(case, tmp_path)
    before = snapshot(engine, data_dir)
    with pytest.raises((InputFileError, AlreadyExists), match=says) as refused:
        add_data_files(
            engine, [first, second], EXAMPLE_ASSEMBLY, strand="", append=append, progress=False
        )
    assert str(second) in str(refused.value)
    assert snapshot(engine, data_dir) == before
    add_data_files(engine, [first], EXAMPLE_ASSEMBLY, progress=False)  # the first alone is fine
    assert "first" in snapshot(engine, data_dir)[0]


def test_cli_one_line_error_and_nothing_listed(tmp_path: Path) -> None:
    env = {"PEAKSQL_DATA_DIR": str(tmp_path / "data"), "PEAKSQL_DB": ""}
    run("example", "-q", env=env)
    good = write_bigwig(tmp_path / "good.bw", {"20": gc_runs()})
    bad = write_bigwig(tmp_path / "bad.bw", {"chrQ": [(0, 5, 1.0)]})
    before = run("list", "--json", env=env).stdout
    failed = run(
        "add-data", str(good), str(bad), "--assembly", EXAMPLE_ASSEMBLY, env=env, check=False
    )
    assert failed.returncode == 2 and len(failed.stderr.strip().splitlines()) == 1
    assert f"{bad}: chromosome 'chrQ' is not in assembly" in failed.stderr
    assert run("list", "--json", env=env).stdout == before
    added = run("add-data", str(good), "--assembly", EXAMPLE_ASSEMBLY, "-q", env=env)
    assert f"added {len(gc_runs()):,} signal runs to condition good" in added.stdout


# --- SIGKILL mid-call ------------------------------------------------------------------------

_CHILD = """
import sys, time
from pathlib import Path
from peaksql.server.catalog.database import open_database
import peaksql.server.ingest.signal_writer as writer
from peaksql.server.ingest.intervals import add_data_files

data_dir, db, pause_in, files = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
engine = open_database(db, data_dir=data_dir)
calls = []

def pausing(method):
    original = getattr(writer.TrackWriter, method)
    def wrapped(self, *args):
        result = original(self, *args)
        calls.append(method)
        if calls.count(method) == 2 and method == pause_in:
            print("PAUSED", flush=True)
            time.sleep(60)
        return result
    setattr(writer.TrackWriter, method, wrapped)

pausing("append")
pausing("finish")
add_data_files(engine, files, "hg19-chr20-2mb", progress=False)
"""


def _killed_child(data_dir: Path, pause_in: str, files: list[Path]) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(data_dir),
         str(data_dir / "catalog.db"), pause_in, *map(str, files)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.stdout.readline().strip() == "PAUSED":
            break
    child.send_signal(signal.SIGKILL)
    child.wait()


@pytest.mark.parametrize(
    "pause_in",
    ["append", "finish"],  # second track staged (first renamed) / both renamed, not committed
)
def test_sigkill_during_signal_add_data_leaves_nothing_visible(tmp_path: Path, pause_in) -> None:
    data_dir = tmp_path / "data"
    engine = open_database(data_dir / "catalog.db", data_dir=data_dir)
    build_example(engine, data_dir, progress=False)
    files = [
        write_bigwig(tmp_path / "one.bw", {"20": gc_runs()}),
        write_bigwig(tmp_path / "two.bw", {"chr20": gc_runs()[::2]}),
    ]
    names, tracks, generation, folders = snapshot(engine, data_dir)

    _killed_child(data_dir, pause_in, files)
    after = snapshot(engine, data_dir)
    assert after[:3] == (names, tracks, generation)
    left = set(after[3]) - set(folders)
    assert len(left) == 2 and set(folders) <= set(after[3])  # orphans: no row names them
    assert any(name.startswith(".staging-") for name in left) == (pause_in == "append")

    add_data_files(engine, files, EXAMPLE_ASSEMBLY, progress=False)  # sweeps, then stores
    final_names, final_tracks, _, final_folders = snapshot(engine, data_dir)
    assert final_names == sorted([*names, "one", "two"])
    assert not left & set(final_folders)
    assert {row.path for row in final_tracks} | {".lock"} == set(final_folders)
    _, y = labels(engine, data_dir, ("gc", "one"))
    np.testing.assert_array_equal(y[:, 0], y[:, 1])
    engine.dispose()
