"""``peaksql describe`` on a local catalog and against a real server (``peaksql serve`` in a
subprocess): the options come from DatasetSpec, text and JSON agree with a brute-force oracle
over the input files, local and remote answers are the same, and ``--plot`` writes a PNG
whose region view (windows and intervals on a stretch) matches the oracle.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from peaksql.core.label_modes import LABEL_MODES
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.database import open_database
from peaksql.server.cli import build_parser, main
from peaksql.server.cli.region_view import _first_from, region_view
from peaksql.server.cli.sources import LocalSource, RemoteSource
from tests.servers import CHROMOSOME_LENGTHS, CONDITIONS, ServerProcess, Truth, build_catalog

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("describe")
    data_dir = root / "data"
    data_dir.mkdir()
    db = f"sqlite:///{root / 'catalog.db'}"
    build_catalog(db, data_dir)
    return db, data_dir


@pytest.fixture(scope="module")
def truth(catalog: tuple[str, Path]) -> Truth:
    return Truth(catalog[1].parent / "inputs")


@pytest.fixture(scope="module")
def server(catalog: tuple[str, Path]) -> Iterator[ServerProcess]:
    with ServerProcess.start(*catalog) as running:
        yield running


def describe(capsys: pytest.CaptureFixture[str], where: tuple[str, Path] | str, *args: str) -> str:
    """``peaksql describe ARGS`` on the local catalog or a server address; its stdout."""
    if isinstance(where, str):
        target = ["--address", where]
    else:
        target = ["--db", where[0], "--data-dir", str(where[1])]
    code = main(["describe", *target, *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_every_spec_keyword_is_an_option() -> None:
    text = _subcommands()["describe"].format_help()
    for name in DatasetSpec.keywords():
        if name in ("sampling", "sampling_args"):  # set through the sampling keywords
            continue
        assert "--" + name.replace("_", "-") in text
    for mode in LABEL_MODES:
        assert mode in text
    with pytest.raises(SystemExit) as two_samplings:
        build_parser().parse_args(
            ["describe", "--seq-length", "9", "--stride", "3", "--random", "5"]
        )
    assert two_samplings.value.code == 2


def _subcommands() -> dict:
    parser = build_parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]
    return dict(action.choices)


def _expected(truth: Truth, spec: DatasetSpec) -> tuple[dict[str, int], list[int]]:
    """Windows per chromosome and positive windows per condition, by brute force."""
    per_region, positives = {}, np.zeros(len(CONDITIONS), dtype=np.int64)
    for chromosome, length in CHROMOSOME_LENGTHS.items():
        starts = range(0, length - spec.seq_length + 1, spec.stride or spec.seq_length)
        per_region[chromosome] = len(starts)
        for start in starts:
            positives += truth.labels(spec, chromosome, start)
    return per_region, positives.tolist()


def test_text_and_json_match_the_oracle(
    catalog: tuple[str, Path], truth: Truth, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = DatasetSpec(seq_length=200, stride=100, label="any")
    args = ("--seq-length", "200", "--stride", "100", "--label", "any")
    found = json.loads(describe(capsys, catalog, *args, "--json"))
    per_region, positives = _expected(truth, spec)
    assert {r["chromosome"]: r["num_windows"] for r in found["regions"]} == per_region
    assert found["num_windows"] == sum(per_region.values())
    columns = found["label_columns"]
    assert [c["name"] for c in columns] == list(CONDITIONS)
    assert [c["num_positive"] for c in columns] == positives
    assert columns[0]["fraction"] == pytest.approx(positives[0] / found["num_windows"])
    assert found["spec"]["seq_length"] == 200 and found["plot"] is None

    text = describe(capsys, catalog, *args)
    assert f"windows:   {found['num_windows']:,} of 200 bp (stride 100)" in text
    rows = [line for line in text.splitlines() if line.startswith("  mini ")]
    assert len(rows) == 3 and len({len(line) for line in rows}) == 1  # right-aligned counts
    heart = next(line for line in text.splitlines() if line.startswith("  heart "))
    assert f"{positives[0]:,}" in heart and "%" in heart


def test_constraint_conditions_and_positives_flags(
    catalog: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    found = json.loads(
        describe(
            capsys,
            catalog,
            *("--seq-length", "100", "--where", "chromosome != 'chr3' AND p_value > 5"),
            *("--conditions", "liver,heart", "--no-positives", "--json"),
        )
    )
    assert [r["chromosome"] for r in found["regions"]] == ["chr1", "chr2"]
    assert [c["name"] for c in found["label_columns"]] == ["liver", "heart"]
    assert found["positives_counted"] is False and found["label_columns"][0]["fraction"] is None
    assert "chr3" in found["region_constraint"] and "p_value" in found["interval_constraint"]


def test_local_plot_writes_a_png(
    catalog: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, extra in (
        ("stride.png", ("--stride", "50", "--plot-region", "chr1:500-2500")),
        ("random.png", ("--random", "300", "--label", "per_base", "--inner-range", "50")),
        ("around.png", ("--around-intervals", "--max-jitter", "20")),
    ):
        out = tmp_path / name
        text = describe(capsys, catalog, "--seq-length", "150", *extra, "--plot", str(out))
        assert f"plot: {out}" in text
        data = out.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 20_000, name


def test_against_a_server_same_answer_and_plot(
    catalog: tuple[str, Path],
    server: ServerProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ("--seq-length", "300", "--stride", "120", "--label", "fraction", "--json")
    local = json.loads(describe(capsys, catalog, *args))
    out = tmp_path / "remote.png"
    remote = json.loads(describe(capsys, server.address, *args, "--plot", str(out)))
    assert remote.pop("plot") == str(out) and local.pop("plot") is None
    assert remote == local
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 20_000


@pytest.mark.parametrize(
    "spec",
    [
        DatasetSpec(seq_length=200, stride=30),
        DatasetSpec(seq_length=200, stride=30, max_n_fraction=0.05),
        DatasetSpec(seq_length=120, random=500, seed=3),
        DatasetSpec(seq_length=120, around_intervals=True, where="condition = 'liver'"),
    ],
    ids=["stride", "n-filtered", "random", "around"],
)
def test_region_view_is_the_same_remotely_and_matches_the_oracle(
    spec: DatasetSpec, catalog: tuple[str, Path], server: ServerProcess, truth: Truth
) -> None:
    from peaksql import Client

    local = LocalSource(open_database(catalog[0]), catalog[1])
    remote = RemoteSource(Client(server.address))
    try:
        d = local.describe(spec)
        views = [region_view(s, spec, d, "chr2:300-1900") for s in (local, remote)]
        everything = local.windows(spec, np.arange(d.num_windows))
    finally:
        local.close()
        remote.close()
    a, b = views
    assert np.array_equal(a.window_starts, b.window_starts)
    assert np.array_equal(a.window_positive, b.window_positive)
    assert np.array_equal(a.coverage, b.coverage) and a.columns == b.columns
    regions, starts, _ = everything
    inside = (regions == 1) & (starts < 1900) & (starts + spec.seq_length > 300)
    assert sorted(a.window_starts.tolist()) == sorted(starts[inside].tolist())
    assert a.covered_until == 1900  # chr2 is 2,200 bp: tiles of 500 cover up to 2,000
    for row, condition in zip(a.coverage, a.columns, strict=True):
        expected = np.zeros(CHROMOSOME_LENGTHS["chr2"], dtype=bool)
        for p in truth.peaks:
            if p.chromosome == "chr2" and p.condition == condition:
                expected[p.start : p.end] = True
        assert np.array_equal(row, expected[300:1900]), condition


def test_default_stretch_and_region_errors(
    catalog: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = DatasetSpec(seq_length=100, stride=100)
    local = LocalSource(open_database(catalog[0]), catalog[1])
    try:
        view = region_view(local, spec, local.describe(spec), None)
    finally:
        local.close()
    assert view.stretch.chromosome in CHROMOSOME_LENGTHS and view.window_positive.any()
    base = ["describe", "--db", catalog[0], "--data-dir", str(catalog[1]), "--seq-length", "100"]
    for region, message in (
        ("chrX:1-10", "chrX is not a region of this dataset"),
        ("chr1:500-100", "empty stretch"),
    ):
        assert main([*base, "--plot", str(tmp_path / "x.png"), "--plot-region", region]) == 2
        assert message in capsys.readouterr().err
    assert main([*base, "--label", "any", "--inner-range", "500"]) == 2
    assert "inner_range" in capsys.readouterr().err


def test_first_from_finds_the_first_start_at_or_after() -> None:
    """The 64-way search over a sorted region equals searchsorted, whatever the bounds."""
    rng = np.random.default_rng(0)

    class Sorted:
        def __init__(self, starts: np.ndarray) -> None:
            self.starts = starts
            self.calls = 0

        def windows(self, spec: object, indices: np.ndarray) -> tuple:
            self.calls += 1
            return np.zeros(len(indices)), self.starts[indices], np.zeros((len(indices), 1))

    for size in (1, 2, 63, 64, 65, 5_000, 300_000):
        source = Sorted(np.sort(rng.integers(0, 10 * size, size=size)))
        for target in (-1, 0, *rng.integers(0, 10 * size, size=5), 10 * size + 1):
            lo, hi = sorted(rng.integers(0, size + 1, size=2))
            found = _first_from(source, None, int(lo), int(hi), int(target))  # type: ignore[arg-type]
            expected = lo + np.searchsorted(source.starts[lo:hi], target, side="left")
            assert found == expected, (size, target, lo, hi)
    assert source.calls < 200  # a few calls per search, not one per window


def test_describe_without_a_catalog_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PEAKSQL_DB", raising=False)
    monkeypatch.setenv("PEAKSQL_DATA_DIR", str(tmp_path / "nothing"))
    assert main(["describe", "--seq-length", "100"]) == 2
    err = capsys.readouterr().err
    assert f"no catalog at {tmp_path / 'nothing' / 'peaksql.db'}" in err
    assert "peaksql example" in err and "PEAKSQL_DATA_DIR" in err
    assert not (tmp_path / "nothing").exists()


def test_chunks_stay_under_the_message_limit() -> None:
    from peaksql.server.cli.sources import MESSAGE_BYTES, chunk_size

    for seq_length, label_bits in ((100, 2), (1_000, 0), (1_000, 100 * 1_000), (131_072, 5)):
        n = chunk_size(seq_length, label_bits)
        assert 1 <= n <= 8192
        assert n == 1 or n * ((seq_length + 1) // 2 + (label_bits + 7) // 8) <= MESSAGE_BYTES
