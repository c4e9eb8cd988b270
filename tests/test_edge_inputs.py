"""Every input checked at the edge, echoes clipped, and plans budgeted by bytes, over a real server.

Requests are sent as raw protobuf (no client-side checks in the way): every out-of-range
integer and every NaN or out-of-range fraction is INVALID_ARGUMENT naming its field, never
INTERNAL; bytes that are not valid UTF-8 in a string field are INVALID_ARGUMENT; a 1 MB
condition name comes back NOT_FOUND with a short message. A spec whose plan would pass the
plan memory budget is RESOURCE_EXHAUSTED naming it before anything is built, and the plan
cache evicts by bytes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest

from peaksql.core.spec import DatasetSpec
from peaksql.server.config import Limits
from peaksql.server.engine.plan_cache import PlanCache, nbytes
from peaksql.server.engine.windows import MAX_LISTED_WINDOWS
from peaksql.server.rpc.interceptors import MAX_STATUS_CHARS
from peaksql.server.rpc.serve import RunningServer
from peaksql.v1 import peaksql_pb2 as pb
from peaksql.v1 import peaksql_pb2_grpc as pb_grpc
from tests.server_fixtures import build_catalog, start

BIG = (1 << 64) - 1
BUDGET = 1_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("edges")
    data_dir = root / "data"
    data_dir.mkdir()
    db = f"sqlite:///{root / 'catalog.db'}"
    build_catalog(db, data_dir)
    running = start(db, data_dir, limits=Limits(plan_memory_budget=BUDGET, max_plans=100))
    yield running
    running.shutdown(0)


@pytest.fixture(scope="module")
def stub(server: RunningServer) -> Iterator[pb_grpc.PeakSQLStub]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.PeakSQLStub(channel)


def _spec(**fields: object) -> pb.DatasetSpec:
    spec = pb.DatasetSpec(seq_length=100)
    for name, value in fields.items():
        target = spec
        *path, last = name.split(".")
        for part in path:
            target = getattr(target, part)
        setattr(target, last, value)
    return spec


def _error(call, request) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as error:
        result = call(request, timeout=10)
        if not isinstance(result, pb.DescribeResponse | pb.Batch):
            next(iter(result))
    return error.value


SPEC_CASES = [
    ("spec.seq_length", {"seq_length": 1 << 63}),
    ("spec.seq_length", {"seq_length": BIG}),
    ("spec.stride.stride", {"stride.stride": BIG}),
    ("spec.random.random", {"random.random": BIG}),
    ("spec.around_intervals.max_jitter", {"around_intervals.max_jitter": BIG}),
    ("spec.label.inner_range", {"label.inner_range": BIG}),
    ("spec.max_n_fraction", {"max_n_fraction": float("nan")}),
    ("spec.max_n_fraction", {"max_n_fraction": -1.0}),
    ("spec.max_n_fraction", {"max_n_fraction": float("inf")}),
    ("spec.label.fraction", {"label.fraction": float("nan")}),
    ("spec.label.fraction", {"label.mode": "fraction", "label.fraction": 0.0}),
]


@pytest.mark.parametrize(("field", "fields"), SPEC_CASES)
def test_spec_fields_out_of_range_are_invalid_argument_naming_the_field(
    stub: pb_grpc.PeakSQLStub, field: str, fields: dict[str, object]
) -> None:
    spec = _spec(**fields)
    for call, request in (
        (stub.Describe, pb.DescribeRequest(spec=spec)),
        (stub.StreamBatches, pb.StreamRequest(spec=spec, batch_size=4)),
        (stub.GetWindows, pb.GetWindowsRequest(spec=spec, indices=[0])),
    ):
        error = _error(call, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert field in error.details()


@pytest.mark.parametrize(
    ("field", "cursor", "extra"),
    [
        ("cursor.world_size", {"world_size": BIG}, {}),
        ("cursor.rank", {"rank": BIG}, {}),
        ("cursor.rank", {"rank": 2, "world_size": 2}, {}),
        ("cursor.epoch", {"epoch": BIG}, {}),
        ("cursor.delivered", {"delivered": BIG}, {}),
        ("max_batches", {}, {"max_batches": BIG}),
    ],
)
def test_cursor_fields_out_of_range_are_invalid_argument_naming_the_field(
    stub: pb_grpc.PeakSQLStub, field: str, cursor: dict[str, int], extra: dict[str, int]
) -> None:
    request = pb.StreamRequest(spec=_spec(), batch_size=4, cursor=pb.Cursor(**cursor), **extra)
    error = _error(stub.StreamBatches, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert field in error.details()


def test_the_largest_seed_is_valid(stub: pb_grpc.PeakSQLStub) -> None:
    request = pb.StreamRequest(spec=_spec(seed=BIG), batch_size=4, seed=BIG, shuffle=True)
    assert next(iter(stub.StreamBatches(request, timeout=10))).batch_size == 4


def test_invalid_utf8_is_invalid_argument(server: RunningServer) -> None:
    where = b"\x0a\x03\xff\xfe\xfd"  # DatasetSpec.where (field 1) = 3 bytes of invalid UTF-8
    raw = b"\x0a" + bytes([len(where)]) + where + b"\x10\x04"  # DescribeRequest.spec
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        for method in ("Describe", "StreamBatches", "GetWindows"):
            call = (channel.unary_stream if method == "StreamBatches" else channel.unary_unary)(
                f"/peaksql.v1.PeakSQL/{method}"
            )
            with pytest.raises(grpc.RpcError) as error:
                result = call(raw, timeout=10)
                if method == "StreamBatches":
                    next(iter(result))
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "UTF-8" in error.value.details()


def test_a_1mb_condition_name_is_not_found_with_a_short_message(
    stub: pb_grpc.PeakSQLStub,
) -> None:
    name = "x" * 1_000_000
    spec = _spec()
    spec.conditions.append(name)
    error = _error(stub.Describe, pb.DescribeRequest(spec=spec))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert len(error.details()) <= MAX_STATUS_CHARS
    assert re.search(r"1,000,00\d characters", error.details())  # the name, clipped


def test_a_plan_over_the_budget_is_refused_before_it_is_built(
    stub: pb_grpc.PeakSQLStub,
) -> None:
    over = BUDGET // 16 + 1  # N-filtered random windows are listed: 16 bytes each
    began = time.monotonic()
    listed = _spec(**{"random.random": over})
    listed.max_n_fraction = 1.0
    error = _error(stub.Describe, pb.DescribeRequest(spec=listed))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "plan_memory_budget" in error.details() and f"{BUDGET:,}" in error.details()
    assert time.monotonic() - began < 1.0
    fits = pb.DescribeRequest(spec=_spec(**{"random.random": 1000}), skip_positives=True)
    assert stub.Describe(fits, timeout=10).num_windows == 1000


def test_the_server_cache_stays_within_the_budget(
    server: RunningServer, stub: pb_grpc.PeakSQLStub
) -> None:
    for seed in range(6):  # 6 plans of 20,000 listed random windows: 320 KB each
        spec = _spec(seed=seed, **{"random.random": 20_000})
        spec.max_n_fraction = 1.0
        stub.Describe(pb.DescribeRequest(spec=spec, skip_positives=True), timeout=10)
    assert server.engine.plans.nbytes <= BUDGET
    assert len(server.engine.plans) < 6


def test_random_windows_at_the_cap_cost_no_memory(
    server: RunningServer, stub: pb_grpc.PeakSQLStub
) -> None:
    spec = _spec(seed=11, **{"random.random": MAX_LISTED_WINDOWS})
    last = MAX_LISTED_WINDOWS - 1
    request = pb.GetWindowsRequest(spec=spec, indices=[0, last], include_coordinates=True)
    batch = stub.GetWindows(request, timeout=30)
    assert batch.batch_size == 2
    plan = next(p for p, _ in server.engine.plans._plans.values() if p.num_windows == last + 1)
    assert nbytes(plan) < 1 << 20  # drawn on demand from the seed, not 3.2 GB of starts


@dataclass
class _FakePlan:
    arrays: list[np.ndarray]


def test_the_plan_cache_evicts_by_bytes() -> None:
    size = 1 << 20
    cache = PlanCache(
        lambda spec, where: _FakePlan([np.zeros(size, np.uint8)]),
        max_plans=10,
        max_bytes=size * 5 // 2,
    )
    plans = [cache.get(DatasetSpec(seq_length=100, seed=seed)) for seed in range(4)]  # type: ignore[arg-type]
    assert len(cache) == 2 and cache.nbytes == 2 * size
    assert cache.get(DatasetSpec(seq_length=100, seed=3)) is plans[3]  # the newest stayed
    assert nbytes(plans[0]) == size


def test_memory_maps_do_not_count(tmp_path: Path) -> None:
    mapped = np.memmap(tmp_path / "m", dtype=np.uint8, mode="w+", shape=(1 << 20,))
    assert nbytes(_FakePlan([mapped, mapped[10:], np.zeros(8, np.int64)])) == 64
