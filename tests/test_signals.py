"""Signal tracks, signal/class labels and bins: against references painted from the files.

The bundled example's tracks (gc: bigWig, repeat_frac: bedGraph, tss: a stranded bigWig pair)
on SQLite and PostgreSQL, in process (``compile_plan``) and over gRPC (a real server).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyBigWig
import pytest
import sqlalchemy as sa

import peaksql
from peaksql.core.errors import InvalidArgument
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.engine.batches import build_batch
from peaksql.server.engine.plan import compile_plan
from peaksql.server.ingest.example import build_example, example_dir
from tests import reference as ref
from tests.conftest import backend_url
from tests.servers import running_server

CHROM, LENGTH = "chr20", 2_000_000


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def catalog(request, tmp_path_factory) -> Iterator[tuple[str, Path, sa.Engine]]:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp(f"signals-{request.param}")
    with backend_url(request, folder) as url:
        engine = open_database(url)
        build_example(engine, folder, progress=False)
        yield url, folder, engine
        engine.dispose()


def _painted(name: str) -> np.ndarray:
    path = example_dir() / name
    if name.endswith(".bw"):
        handle = pyBigWig.open(str(path))
        rows = [(CHROM, s, e, v) for s, e, v in handle.intervals(CHROM)]
        return ref.paint_signal(rows, CHROM, LENGTH)
    return ref.paint_signal(ref.parse_bedgraph_values(path.read_text()), CHROM, LENGTH)


PAINTED = {"gc": "gc_100bp.bw", "repeat_frac": "repeat_frac_100kb.bedGraph"}


def _batch(catalog, spec: DatasetSpec, indices: np.ndarray):  # type: ignore[no-untyped-def]
    _, folder, engine = catalog
    plan = compile_plan(engine, GenomeStore(folder), spec)
    return plan, build_batch(plan, indices)


@pytest.mark.parametrize("aggregate", ["mean", "sum", "max", "min", "coverage"])
@pytest.mark.parametrize("gaps", ["zero", "nan", "skip"])
@pytest.mark.parametrize("bin_size", [0, 1, 40, 1000])
def test_signal_matches_painted_reference(
    catalog, aggregate: str, gaps: str, bin_size: int
) -> None:
    spec = DatasetSpec(
        seq_length=2000, stride=997, label="signal", bin_size=bin_size, aggregate=aggregate,
        signal_gaps=gaps, conditions=("gc", "repeat_frac"),
    )  # fmt: skip
    plan, batch = _batch(catalog, spec, np.arange(0, 2000, 53))
    labels = batch.labels if bin_size else batch.labels[:, :, None]
    for c, name in enumerate(plan.label_columns):
        per_base = _painted(PAINTED[name])
        for i, start in enumerate(batch.starts):
            want = ref.aggregate_signal(
                per_base, int(start), 2000, bin_size or 2000, aggregate, gaps
            )
            np.testing.assert_allclose(labels[i, c], want, rtol=2e-6, atol=2e-6)


def test_bigwig_values_equal_pybigwig_stats(catalog) -> None:
    spec = DatasetSpec(seq_length=1024, label="signal", bin_size=32, signal_gaps="skip",
                       conditions=("gc",))  # fmt: skip
    _, batch = _batch(catalog, spec, np.arange(0, 1900, 3))
    handle = pyBigWig.open(str(example_dir() / "gc_100bp.bw"))
    for i, start in enumerate(batch.starts):
        want = handle.stats(CHROM, int(start), int(start) + 1024, nBins=32, exact=True)
        want = np.array([np.nan if v is None else v for v in want])
        np.testing.assert_allclose(batch.labels[i, 0], want, rtol=1e-6)


@pytest.mark.parametrize("transform", ["", "log1p", "sqrt"])
def test_transform_order_scale_clip_then_function(catalog, transform: str) -> None:
    spec = DatasetSpec(seq_length=1000, label="signal", bin_size=100, conditions=("gc",),
                       scale=(3.0,), clip_min=0.5, clip_max=1.5, transform=transform)  # fmt: skip
    _, batch = _batch(catalog, spec, np.arange(100, 400))
    per_base = _painted("gc_100bp.bw")
    function = {"": lambda v: v, "log1p": np.log1p, "sqrt": np.sqrt}[transform]
    for i, start in enumerate(batch.starts):
        raw = ref.aggregate_signal(per_base, int(start), 1000, 100, "mean", "zero")
        np.testing.assert_allclose(
            batch.labels[i, 0], function(np.clip(raw * 3, 0.5, 1.5)), rtol=1e-5
        )


def test_stranded_pair_columns_and_partners(catalog) -> None:
    spec = DatasetSpec(seq_length=1000, label="signal", aggregate="sum", conditions=("tss",))
    plan, batch = _batch(catalog, spec, np.arange(0, 2000))
    assert plan.label_columns == ["tss:+", "tss:-"]
    assert plan.strand_partner.tolist() == [1, 0]
    for c, file in enumerate(["tss_plus.bw", "tss_minus.bw"]):
        handle = pyBigWig.open(str(example_dir() / file))
        total = sum(v * (e - s) for s, e, v in handle.intervals(CHROM))
        assert batch.labels[:, c].sum() == pytest.approx(total)


@pytest.mark.parametrize("bin_size", [0, 250])
@pytest.mark.parametrize("one_hot", [False, True])
def test_class_labels_against_reference(catalog, bin_size: int, one_hot: bool) -> None:
    columns = ("ctcf_peaks", "genes", "cpg_islands")
    spec = DatasetSpec(seq_length=1000, label="class", fraction=0.05, bin_size=bin_size,
                       conditions=columns, one_hot_classes=one_hot)  # fmt: skip
    frac = DatasetSpec(seq_length=1000, label="fraction", fraction=1e-9, bin_size=bin_size or 1000,
                       conditions=columns)  # fmt: skip
    plan, batch = _batch(catalog, spec, np.arange(0, 2000))
    _, covered = _batch(catalog, frac, np.arange(0, 2000))
    assert batch.labels.shape == (2000, *plan.label_shape)
    # per bin, the covered fractions from a boolean painting of the BED files
    painted = [
        ref.paint_signal([(CHROM, s, e, 1.0) for s, e in _bed(c)], CHROM, LENGTH) for c in columns
    ]
    size = bin_size or 1000
    for i, start in enumerate(batch.starts[:200]):
        for b in range(1000 // size):
            lo = int(start) + b * size
            fractions = [float(np.mean(~np.isnan(p[lo : lo + size]))) for p in painted]
            want = ref.class_of(fractions, 0.05)
            got = batch.labels[i] if not bin_size else batch.labels[i, ..., b]
            got = int(np.argmax(got)) if one_hot else int(got)
            assert got == want
    assert covered.labels.shape[-1] == (1000 // size if bin_size else 1000 // 1000)


def _bed(condition: str) -> list[tuple[int, int]]:
    rows = (example_dir() / f"{condition}.bed").read_text().splitlines()
    return [(int(r.split("\t")[1]), int(r.split("\t")[2])) for r in rows if r.strip()]


@pytest.mark.parametrize("mode", ["any", "all", "fraction", "summit"])
def test_bins_for_every_mode_equal_sub_windows(catalog, mode: str) -> None:
    binned = DatasetSpec(
        seq_length=1024, label=mode, bin_size=128, conditions=("ctcf_peaks", "genes")
    )
    _, batch = _batch(catalog, binned, np.arange(0, 1900))
    assert batch.labels.shape == (1900, 2, 8)
    for b in range(8):
        sub = DatasetSpec(
            seq_length=128, label=mode, stride=128, conditions=("ctcf_peaks", "genes")
        )
        sub_plan = compile_plan(catalog[2], GenomeStore(catalog[1]), sub)
        want = build_batch(sub_plan, (batch.starts[:300] // 128) + b).labels
        np.testing.assert_array_equal(batch.labels[:300, :, b], want)


def test_peak_values_serve_as_signal(catalog, tmp_path: Path) -> None:
    spec = DatasetSpec(
        seq_length=100_000, label="signal", aggregate="max", conditions=("repeat_frac",)
    )
    _, batch = _batch(catalog, spec, np.arange(0, 20))
    per_base = _painted("repeat_frac_100kb.bedGraph")
    np.testing.assert_allclose(batch.labels[:, 0], per_base[::100_000][:20], rtol=1e-6)


def test_spec_checks() -> None:
    with pytest.raises(InvalidArgument, match="bin_size"):
        DatasetSpec(seq_length=1000, bin_size=300)
    with pytest.raises(InvalidArgument, match="aggregate"):
        DatasetSpec(seq_length=1000, label="signal", aggregate="median")
    with pytest.raises(InvalidArgument, match="per_base"):
        DatasetSpec(seq_length=1000, label="per_base", bin_size=10)
    with pytest.raises(InvalidArgument, match="clip_min"):
        DatasetSpec(seq_length=1000, label="signal", clip_min=2, clip_max=1)


@pytest.mark.parametrize("wire", ["float32", "float16"])
def test_remote_equals_in_process_after_decode(catalog, wire: str) -> None:
    url, folder, _ = catalog
    kwargs = dict(seq_length=1024, label="signal", bin_size=32, label_wire_dtype=wire,
                  conditions=("gc", "tss"))  # fmt: skip
    _, local = _batch(catalog, DatasetSpec(**kwargs), np.arange(0, 64))
    with (
        running_server(url, folder) as server,
        peaksql.Client(f"127.0.0.1:{server.port}") as client,
    ):
        description = client.describe(DatasetSpec(**kwargs))
        data = client.dataset(batch_size=64, **kwargs)
        _, y = next(iter(data))
    assert description.label_columns == ("gc", "tss:+", "tss:-")
    assert description.strand_partner == (0, 2, 1)
    low, high, mean = description.signal_stats[0]
    assert 0 <= low < mean < high <= 1
    assert y.dtype == np.float32 and y.shape == (64, 3, 32)
    np.testing.assert_array_equal(y, local.labels.astype(np.float32))
    if wire == "float16":
        _, exact = _batch(
            catalog, DatasetSpec(**{**kwargs, "label_wire_dtype": "float32"}), np.arange(64)
        )
        np.testing.assert_allclose(y, exact.labels, rtol=1e-3, atol=1e-3)
