"""A constraint's interval terms over signal label columns (``engine/signal_terms.py``).

Condition and metadata terms choose signal columns as they choose interval label columns;
other interval terms (``p_value > 5``, ``name LIKE ...``) are refused for bigWig and bedGraph
tracks and filter the intervals of an interval condition served as signal. The bundled
example plus metadata-tagged conditions, on SQLite and PostgreSQL, in process and over gRPC;
values against references painted from the files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import sqlalchemy as sa

import peaksql
from peaksql.core.errors import InvalidArgument, NotFound
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.engine.batches import build_batch
from peaksql.server.engine.plan import Plan, compile_plan
from peaksql.server.ingest.example import EXAMPLE_ASSEMBLY, build_example, example_dir
from peaksql.server.ingest.intervals import add_data
from peaksql.v1 import peaksql_pb2 as pb
from peaksql.v1 import peaksql_pb2_grpc as pb_grpc
from tests import reference as ref
from tests.conftest import backend_url
from tests.servers import running_server
from tests.test_signals import CHROM, LENGTH, _painted

#: (start, end, name, signal_value, p_value) of the narrowPeak condition ``peaks_np``;
#: b overlaps a and d lies inside c, so served as signal the larger value wins there.
PEAKS = [
    (1000, 1600, "a", 3.0, 2.0),
    (1400, 2000, "b", 8.0, 9.0),
    (5000, 5300, "c", 6.5, 1.0),
    (5100, 5200, "d", 12.0, 7.0),
    (9000, 9400, "e", 4.0, 11.0),
]


def _build(engine: sa.Engine, folder: Path) -> None:
    """The example, plus: gc_liver (the GC bigWig), repeat_heart (the bedGraph as a track),
    ctcf_liver (the CTCF peaks as intervals) and peaks_np (narrowPeak, kidney)."""
    build_example(engine, folder, progress=False)
    source = example_dir()
    for path, name, tissue, strand in [
        (source / "gc_100bp.bw", "gc_liver", "liver", None),
        (source / "repeat_frac_100kb.bedGraph", "repeat_heart", "heart", ""),
        (source / "ctcf_peaks.bed", "ctcf_liver", "liver", None),
    ]:
        metadata = {"tissue": tissue}
        add_data(engine, path, EXAMPLE_ASSEMBLY, name, strand=strand, metadata=metadata,
                 progress=False, data_dir=folder)  # fmt: skip
    peaks = folder / "peaks_np.narrowPeak"
    peaks.write_text(
        "".join(f"{CHROM}\t{s}\t{e}\t{n}\t0\t.\t{v}\t{p}\t-1\t-1\n" for s, e, n, v, p in PEAKS)
    )
    add_data(engine, peaks, EXAMPLE_ASSEMBLY, metadata={"tissue": "kidney"}, progress=False,
             data_dir=folder)  # fmt: skip


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def catalog(request, tmp_path_factory) -> Iterator[tuple[str, Path, sa.Engine]]:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp(f"signal-terms-{request.param}")
    with backend_url(request, folder) as url:
        engine = open_database(url, data_dir=folder)
        _build(engine, folder)
        yield url, folder, engine
        engine.dispose()


def _plan(catalog, **kwargs) -> Plan:  # type: ignore[no-untyped-def]
    _, folder, engine = catalog
    kwargs.setdefault("seq_length", 1000)
    return compile_plan(engine, GenomeStore(folder), DatasetSpec(**kwargs))


def _check_painted(plan: Plan, columns: dict[str, np.ndarray], gaps: str = "zero") -> None:
    """Every window's label of each named column equals the reference painted per base."""
    batch = build_batch(plan, np.arange(0, plan.num_windows, 5))
    size, aggregate = plan.spec.bin_size or plan.spec.seq_length, plan.spec.aggregate
    for name, per_base in columns.items():
        c = plan.label_columns.index(name)
        for i, start in enumerate(batch.starts):
            want = ref.aggregate_signal(per_base, int(start), plan.spec.seq_length, size,
                                        aggregate, gaps)  # fmt: skip
            got = batch.labels[i, c] if plan.spec.bin_size else batch.labels[i, c : c + 1]
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


# --- condition and metadata terms choose signal columns ---------------------------------------


@pytest.mark.parametrize(
    ("where", "columns"),
    [
        ("condition = 'gc'", ["gc"]),
        ("condition IN ('tss', 'gc')", ["gc", "tss:+", "tss:-"]),
        ("condition != 'gc'", ["gc_liver", "repeat_frac", "repeat_heart", "tss:+", "tss:-"]),
        ("tissue = 'liver'", ["gc_liver"]),
        ("tissue = 'liver' OR condition = 'tss'", ["gc_liver", "tss:+", "tss:-"]),
        ("tissue IS NOT NULL", ["gc_liver", "repeat_heart"]),
        ("chromosome = 'chr20' AND tissue LIKE 'h%'", ["repeat_heart"]),
        ("", ["gc", "gc_liver", "repeat_frac", "repeat_heart", "tss:+", "tss:-"]),
    ],
)
def test_condition_terms_choose_the_signal_columns(catalog, where: str, columns) -> None:
    plan = _plan(catalog, label="signal", bin_size=100, stride=997, where=where)
    assert plan.label_columns == columns
    painted = {"gc": "gc_100bp.bw", "gc_liver": "gc_100bp.bw",
               "repeat_frac": "repeat_frac_100kb.bedGraph",
               "repeat_heart": "repeat_frac_100kb.bedGraph"}  # fmt: skip
    _check_painted(plan, {c: _painted(painted[c]) for c in columns if c in painted})


def test_metadata_terms_select_like_they_do_for_interval_columns(catalog) -> None:
    """One term, both kinds of plan: the liver interval conditions label a boolean plan, the
    liver signal tracks a signal plan (the same SQL resolves the condition ids)."""
    assert _plan(catalog, label="any", where="tissue = 'liver'").label_columns == ["ctcf_liver"]
    assert _plan(catalog, label="signal", where="tissue = 'liver'").label_columns == ["gc_liver"]


@pytest.mark.parametrize("gaps", ["zero", "nan"])
def test_a_named_column_the_terms_leave_out_has_no_data(catalog, gaps: str) -> None:
    """conditions= fixes the columns; one the condition terms leave out gets nothing, as an
    interval column gets no intervals (all zero), yet stays known on its assembly."""
    where = "tissue = 'liver'"
    boolean = _plan(catalog, conditions=("ctcf_liver", "ctcf_peaks"), where=where)
    labels = build_batch(boolean, np.arange(boolean.num_windows)).labels
    assert labels[:, 0].any() and not labels[:, 1].any()
    plan = _plan(catalog, label="signal", bin_size=100, signal_gaps=gaps, where=where,
                 conditions=("gc_liver", "gc", "tss"), missing="mask")  # fmt: skip
    assert plan.label_columns == ["gc_liver", "gc", "tss:+", "tss:-"]
    assert plan.column_presence.all()
    nothing = np.full(LENGTH, np.nan)
    _check_painted(plan, {"gc_liver": _painted("gc_100bp.bw"), "gc": nothing, "tss:+": nothing},
                   gaps)  # fmt: skip
    assert plan.coverage.stats[1] is None and plan.coverage.stats[0] is not None


def test_conditions_and_the_terms_together(catalog) -> None:
    plan = _plan(catalog, label="signal", conditions=("tss", "gc"), where="condition = 'tss'")
    batch = build_batch(plan, np.arange(plan.num_windows))
    assert plan.label_columns == ["tss:+", "tss:-", "gc"]
    assert batch.labels[:, :2].any() and not batch.labels[:, 2].any()


def test_unknown_and_unmatched_conditions(catalog) -> None:
    with pytest.raises(NotFound, match=r"'gcc' \(did you mean 'gc'"):
        _plan(catalog, label="signal", where="condition = 'gcc'")
    with pytest.raises(InvalidArgument, match=r"\(tissue = 'brain'\) select no signal track"):
        _plan(catalog, label="signal", where="tissue = 'brain'")
    with pytest.raises(InvalidArgument, match=r"select no signal track.*conditions="):
        _plan(catalog, label="signal", where="condition = 'ctcf_peaks'")


# --- interval terms: refused for tracks, filtering interval conditions served as signal ------


@pytest.mark.parametrize(
    ("where", "conditions", "term"),
    [
        ("p_value > 5", (), "p_value > 5"),
        ("name LIKE 'CTCF%'", ("gc",), "name LIKE 'CTCF%'"),
        ("condition = 'gc' AND length > 100", (), "length > 100"),
        ("tissue = 'liver' OR p_value > 5", (), "tissue = 'liver' OR p_value > 5"),
        ("start < 1000", ("tss",), "start < 1000"),
        ("signal_value > 5", ("peaks_np", "gc"), "signal_value > 5"),  # gc is a track
    ],
)
def test_interval_terms_over_tracks_are_refused(catalog, where, conditions, term) -> None:
    with pytest.raises(InvalidArgument) as refused:
        _plan(catalog, label="signal", where=where, conditions=conditions)
    message = str(refused.value)
    assert f"the constraint term {term!r} selects intervals" in message
    assert "signal tracks" in message and "hold runs of values, not intervals" in message


def _painted_peaks(keep: Callable[[tuple], bool]) -> np.ndarray:
    """Per-base signal_value of the kept peaks, the largest where they overlap."""
    values = np.full(LENGTH, np.nan)
    for peak in PEAKS:
        if keep(peak):
            start, end, value = peak[0], peak[1], peak[3]
            values[start:end] = np.fmax(values[start:end], value)
    return values


@pytest.mark.parametrize(
    ("where", "keep"),
    [
        ("", lambda p: True),
        ("signal_value > 5", lambda p: p[3] > 5),
        ("p_value >= 2 AND name != 'e'", lambda p: p[4] >= 2 and p[2] != "e"),
        ("tissue = 'liver' OR p_value > 8", lambda p: p[4] > 8),  # peaks_np is kidney
        ("tissue = 'kidney' AND start >= 5000", lambda p: p[0] >= 5000),
        ("condition = 'peaks_np' AND name IN ('a', 'c')", lambda p: p[2] in "ac"),
    ],
)
@pytest.mark.parametrize("aggregate", ["max", "mean"])
def test_interval_terms_filter_a_peak_condition_served_as_signal(
    catalog, where, keep, aggregate
) -> None:
    """Decided: a narrowPeak served as signal is intervals, so the terms choose which of them
    give values (as they choose an interval column's intervals)."""
    plan = _plan(catalog, label="signal", aggregate=aggregate, bin_size=100, stride=1000,
                 where=where, conditions=("peaks_np",), missing="mask")  # fmt: skip
    assert plan.column_presence.all()  # known even where the terms keep no peak
    _check_painted(plan, {"peaks_np": _painted_peaks(keep)})


def test_a_peak_condition_the_terms_leave_out_gives_nothing(catalog) -> None:
    plan = _plan(catalog, label="signal", where="tissue = 'liver'", conditions=("peaks_np",))
    assert not build_batch(plan, np.arange(plan.num_windows)).labels.any()


# --- over gRPC ---------------------------------------------------------------------------------


def test_remote_status_and_columns(catalog) -> None:
    url, folder, _ = catalog
    refused = DatasetSpec(seq_length=1000, label="signal", where="p_value > 5")
    chosen = DatasetSpec(seq_length=1000, label="signal", where="tissue = 'liver'")
    with (
        running_server(url, folder) as server,
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
        peaksql.Client(f"127.0.0.1:{server.port}") as client,
    ):
        stub = pb_grpc.PeakSQLStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Describe(pb.DescribeRequest(spec=refused.to_proto()), timeout=60)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "the constraint term 'p_value > 5' selects intervals" in caught.value.details()
        with pytest.raises(InvalidArgument, match="p_value > 5"):
            data = client.dataset(
                batch_size=8, seq_length=1000, label="signal", where=refused.where
            )
            next(iter(data))
        assert client.describe(chosen).label_columns == ("gc_liver",)
        with pytest.raises(grpc.RpcError) as unknown:
            where = "condition = 'gcc'"
            spec = DatasetSpec(seq_length=1000, label="signal", where=where)
            stub.Describe(pb.DescribeRequest(spec=spec.to_proto()), timeout=60)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
