"""No silent wrong datasets: unknown condition names are NotFound with a did-you-mean, a spec
without windows is InvalidArgument saying why, Describe never outlives the client's deadline
(positives computed in the background, reported pending), and a deadline error names the
call and what to do.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

import peaksql
from peaksql.client import raise_remote
from peaksql.core.errors import InvalidArgument, NotFound, PeakSQLError
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.engine import dataset_engine
from peaksql.server.engine.plan import compile_plan
from peaksql.server.rpc.service import MAX_POSITIVES_WAIT_SECONDS, positives_wait
from tests.servers import build_catalog, running_server


@pytest.fixture
def catalog(db_url: str, data_dir: Path) -> tuple[str, Path]:
    build_catalog(db_url, data_dir)  # assembly mini (chr1 3000, chr2 2200, chr3 1300): heart, liver
    return db_url, data_dir


def _compile(catalog: tuple[str, Path], **spec: object):  # type: ignore[no-untyped-def]
    engine = open_database(catalog[0])
    try:
        return compile_plan(engine, GenomeStore(catalog[1]), DatasetSpec(**spec))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"where": "condition = 'lvier'"},
            "unknown condition(s) in the constraint: 'lvier' (did you mean 'liver'?)",
        ),
        (
            {"where": "condition IN ('heart', 'haert', 'kidney')"},
            "unknown condition(s) in the constraint: 'haert' (did you mean 'heart'?), 'kidney'",
        ),
        ({"where": "NOT condition IN ('hart')"}, "'hart' (did you mean 'heart'?)"),
        ({"where": "condition != 'x' OR p_value > 3"}, "in the constraint: 'x' (the catalog has 2"),
        ({"conditions": ("liver", "livr")}, "unknown condition(s) in conditions: 'livr' (did you"),
        ({"exclude": ("hearts",)}, "unknown condition(s) in exclude: 'hearts' (did you mean"),
    ],
)
def test_unknown_condition_names_are_not_found_with_a_did_you_mean(catalog, spec, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound) as error:
        _compile(catalog, seq_length=100, **spec)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"seq_length": 5000},
            "the dataset has no window: seq_length 5000 is longer than every selected "
            "chromosome (the longest is chr1 of mini, 3,000 bp)",
        ),
        (
            {"seq_length": 100, "around_intervals": True, "where": "p_value > 1000"},
            "the dataset has no window: no interval matches the constraint and conditions",
        ),
        (
            {"seq_length": 2500, "where": "chromosome = 'chr2'"},
            "seq_length 2500 is longer than every selected chromosome (the longest is chr2",
        ),
    ],
)
def test_a_spec_without_windows_is_invalid_argument(catalog, spec, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument) as error:
        _compile(catalog, **spec)
    assert message in str(error.value)


def test_errors_over_grpc(catalog) -> None:  # type: ignore[no-untyped-def]
    with running_server(*catalog) as server, peaksql.Client(f"127.0.0.1:{server.port}") as client:
        with pytest.raises(NotFound, match="did you mean 'liver'"):
            client.describe(DatasetSpec(seq_length=100, where="condition = 'livr'"))
        with pytest.raises(InvalidArgument, match="the dataset has no window"):
            list(client.dataset(seq_length=10_000))


# --- Describe within the deadline -----------------------------------------------------------


class _Context:
    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining

    def time_remaining(self) -> float | None:
        return self.remaining


def test_positives_wait_is_bounded_by_the_deadline() -> None:
    assert positives_wait(_Context(10.0)) == 5.0
    assert positives_wait(_Context(None)) == MAX_POSITIVES_WAIT_SECONDS
    assert positives_wait(_Context(1e9)) == MAX_POSITIVES_WAIT_SECONDS
    assert positives_wait(_Context(-1.0)) == 0.0


def test_describe_reports_pending_positives_then_the_counts(catalog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()
    counted = dataset_engine.positive_counts

    def slow_counts(plan):  # type: ignore[no-untyped-def]
        release.wait(30)
        return counted(plan)

    monkeypatch.setattr(dataset_engine, "positive_counts", slow_counts)
    spec = DatasetSpec(seq_length=100, stride=100)
    with (
        running_server(*catalog) as server,
        peaksql.Client(f"127.0.0.1:{server.port}", timeout=2.0) as client,
    ):
        began = time.monotonic()
        pending = client.describe(spec)
        assert time.monotonic() - began < 2.0  # answered within the client's deadline
        assert pending.positives_pending and not any(pending.num_positive)
        assert pending.num_windows > 0 and pending.label_columns == ("heart", "liver")
        release.set()
        done = client.describe(spec)
        deadline = time.monotonic() + 60
        while done.positives_pending and time.monotonic() < deadline:  # ask again later
            done = client.describe(spec)
        assert not done.positives_pending and any(done.num_positive)
        plan = server.engine.plan(spec)
        assert list(done.num_positive) == counted(plan).tolist()


def test_describe_without_positives_makes_no_pass_over_windows(catalog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def refuse(plan):  # type: ignore[no-untyped-def]
        raise AssertionError("counted positives")

    monkeypatch.setattr(dataset_engine, "positive_counts", refuse)
    with running_server(*catalog) as server, peaksql.Client(f"127.0.0.1:{server.port}") as client:
        description = client.describe(DatasetSpec(seq_length=100), count_positives=False)
        assert description.num_windows > 0 and not description.positives_pending


def test_a_deadline_error_names_the_call_and_what_to_do(catalog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    compile_plan_ = dataset_engine.compile_plan

    def slow_compile(*args):  # type: ignore[no-untyped-def]
        time.sleep(1.0)
        return compile_plan_(*args)

    monkeypatch.setattr(dataset_engine, "compile_plan", slow_compile)
    with (
        running_server(*catalog) as server,
        peaksql.Client(f"127.0.0.1:{server.port}", timeout=0.3) as client,
        pytest.raises(PeakSQLError) as error,
    ):
        client.describe(DatasetSpec(seq_length=100))
    assert error.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    message = str(error.value)
    assert message.startswith("Describe passed the client's deadline")
    assert "Client(timeout=...)" in message and "count_positives=False" in message


def test_raise_remote_keeps_other_messages() -> None:
    class Failed(grpc.RpcError):
        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.NOT_FOUND

        def details(self) -> str:
            return "no such thing"

    error = raise_remote(Failed(), "Describe")
    assert isinstance(error, NotFound) and str(error) == "no such thing"
    assert np.isfinite(1.0)
