"""Signal conditions in the listings: ``list_conditions``, ``peaksql list`` (text and
``--json``) and ListConditions show their assemblies and the runs of their tracks, counted
against pyBigWig and the bedGraph text (SQLite and PostgreSQL, a real server); removing one
says what it removed and deletes its track folders."""

from __future__ import annotations

import json

import grpc
import pyBigWig
import sqlalchemy as sa

import peaksql
from peaksql.server.catalog.queries import list_conditions
from peaksql.server.catalog.schema import signal_tracks
from peaksql.server.catalog.signal_store import store_root
from peaksql.server.ingest.assembly import add_assembly
from peaksql.server.ingest.example import EXAMPLE_ASSEMBLY, example_dir
from peaksql.server.ingest.intervals import RemovedCondition, add_data, remove_condition
from peaksql.v1 import peaksql_pb2 as pb
from peaksql.v1 import peaksql_pb2_grpc as pb_grpc
from tests import reference as ref
from tests.servers import running_server
from tests.test_cli import env, run  # noqa: F401  (env: the CLI's catalog fixture)
from tests.test_signal_ingest import CHROM, example  # noqa: F401


def _bigwig_runs(name: str) -> int:
    handle = pyBigWig.open(str(example_dir() / name))
    try:
        return len(handle.intervals(CHROM))
    finally:
        handle.close()


def _expected() -> dict[str, tuple[int, int, int]]:
    """(intervals, runs, tracks) of the example's conditions, from the files themselves."""
    bedgraph = (example_dir() / "repeat_frac_100kb.bedGraph").read_text()
    tss = _bigwig_runs("tss_plus.bw") + _bigwig_runs("tss_minus.bw")
    return {
        "gc": (0, _bigwig_runs("gc_100bp.bw"), 1),
        "repeat_frac": (0, len(ref.parse_bedgraph_values(bedgraph)), 1),
        "tss": (0, tss, 2),
        "ctcf_peaks": (len((example_dir() / "ctcf_peaks.bed").read_text().splitlines()), 0, 0),
    }


def test_signal_conditions_list_assemblies_and_runs(example) -> None:  # noqa: F811
    engine, data_dir = example
    by_name = {c.name: c for c in list_conditions(engine)}
    for name, counts in _expected().items():
        info = by_name[name]
        assert (info.num_intervals, info.num_runs, info.num_tracks) == counts, name
        assert info.assemblies == (EXAMPLE_ASSEMBLY,) and info.assembly == EXAMPLE_ASSEMBLY
        assert info.as_dict()["num_runs"] == counts[1]

    copy = "hg19-copy"  # the same track on a second assembly joins the condition
    add_assembly(engine, data_dir, example_dir() / "genome.fa", copy, "human", progress=False)
    add_data(engine, example_dir() / "gc_100bp.bw", copy, "gc", append=True, progress=False)
    gc = {c.name: c for c in list_conditions(engine)}["gc"]
    assert gc.assemblies == (EXAMPLE_ASSEMBLY, copy) and gc.assembly == f"{EXAMPLE_ASSEMBLY},{copy}"
    assert (gc.num_runs, gc.num_tracks) == (2 * _expected()["gc"][1], 2)


def test_peaksql_list_shows_signal_runs(env: dict[str, str]) -> None:  # noqa: F811
    run("example", "-q", env=env)
    lines = run("list", env=env).stdout.splitlines()
    header = lines[lines.index("conditions:") + 1]
    rows = {line.split()[0]: line for line in lines[lines.index("conditions:") + 2 :]}
    intervals_end = header.index("intervals") + len("intervals")
    runs_end = header.index("signal runs") + len("signal runs")
    expected = _expected()
    for name in ("gc", "tss"):
        row = rows[name]
        assert (
            EXAMPLE_ASSEMBLY in row
            and row[intervals_end - len("intervals") : intervals_end].isspace()
        )
        assert row[:runs_end].endswith(f"{expected[name][1]:,}")
    assert rows["ctcf_peaks"].endswith(f"{expected['ctcf_peaks'][0]:,}")  # no runs cell
    listing = {
        c["name"]: c for c in json.loads(run("list", "--json", env=env).stdout)["conditions"]
    }
    for name, (num_intervals, num_runs, num_tracks) in expected.items():
        found = listing[name]
        assert (found["num_intervals"], found["num_runs"], found["num_tracks"]) == (
            num_intervals, num_runs, num_tracks)  # fmt: skip
        assert found["assembly"] == EXAMPLE_ASSEMBLY


def test_list_conditions_over_grpc(example, db_url: str) -> None:  # noqa: F811
    _, data_dir = example
    expected = _expected()
    with running_server(db_url, data_dir) as server:
        address = f"127.0.0.1:{server.port}"
        with peaksql.Client(address) as client:
            infos = {c.name: c for c in client.conditions()}
        with grpc.insecure_channel(address) as channel:
            response = pb_grpc.PeakSQLStub(channel).ListConditions(pb.ListConditionsRequest())
    for name, (num_intervals, num_runs, num_tracks) in expected.items():
        info = infos[name]
        assert (info.assembly, info.num_intervals, info.num_runs, info.num_tracks) == (
            EXAMPLE_ASSEMBLY, num_intervals, num_runs, num_tracks)  # fmt: skip
    raw = {c.name: c for c in response.conditions}
    assert list(raw["tss"].assemblies) == [EXAMPLE_ASSEMBLY] and raw["tss"].num_tracks == 2


def test_removing_a_signal_condition_deletes_its_tracks(example) -> None:  # noqa: F811
    engine, data_dir = example
    with engine.connect() as connection:
        paths = set(connection.scalars(sa.select(signal_tracks.c.path)))
    expected = _expected()
    removed = remove_condition(engine, "tss", data_dir=data_dir)
    assert removed == RemovedCondition(intervals=0, runs=expected["tss"][1], tracks=2)
    assert str(removed) == f"{expected['tss'][1]:,} runs in 2 signal tracks"
    with engine.connect() as connection:
        left = set(connection.scalars(sa.select(signal_tracks.c.path)))
    assert len(paths - left) == 2
    folders = {p.name for p in store_root(data_dir).iterdir() if p.is_dir()}
    assert not (paths - left) & folders and left <= folders
    assert "tss" not in {c.name for c in list_conditions(engine)}
    peaks = remove_condition(engine, "ctcf_peaks", data_dir=data_dir)
    assert str(peaks) == f"{expected['ctcf_peaks'][0]:,} intervals"


def test_peaksql_remove_names_runs(env: dict[str, str]) -> None:  # noqa: F811
    run("example", "-q", env=env)
    out = run("remove", "condition", "gc", env=env).stdout
    assert out.strip() == f"removed condition gc ({_expected()['gc'][1]:,} runs in 1 signal track)"
