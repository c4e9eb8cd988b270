"""Every error over the wire: the status code and message a raw stub sees, and the matching
``peaksql.core.errors`` exception (same message) that the client raises, for unary calls, the
batch stream (``Dataset`` iteration) and map-style access.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

import peaksql
from peaksql.core.errors import (
    ConstraintError,
    InvalidArgument,
    NotFound,
    PeakSQLError,
    ResourceExhausted,
)
from peaksql.core.spec import DatasetSpec
from peaksql.dataset import Dataset
from peaksql.server.engine.constraints import parse_where
from peaksql.v1 import peaksql_pb2 as pb
from peaksql.v1 import peaksql_pb2_grpc as pb_grpc
from tests.servers import build_catalog, running_server

LIMITS = {"max_batch_size": 64, "max_batch_bytes": 4_000, "max_get_windows": 10}
SEQ_LENGTH = 100


@pytest.fixture
def server(db_url: str, data_dir: Path):  # type: ignore[no-untyped-def]
    build_catalog(db_url, data_dir)
    with running_server(db_url, data_dir, **LIMITS) as running:
        yield running


@pytest.fixture
def stub(server):  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.PeakSQLStub(channel)


@pytest.fixture
def client(server):  # type: ignore[no-untyped-def]
    with peaksql.Client(f"127.0.0.1:{server.port}") as c:
        yield c


def parser_message(where: str) -> str:
    with pytest.raises(ConstraintError) as caught:
        parse_where(where)
    return str(caught.value)


def remote_status(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        result = call()
        if not isinstance(result, pb.Batch | pb.DescribeResponse):
            list(result)  # a stream fails when read
    return caught.value.code(), caught.value.details()


def stream(stub, spec: DatasetSpec, batch_size: int = 8, **fields):  # type: ignore[no-untyped-def]
    request = pb.StreamRequest(spec=spec.to_proto(), batch_size=batch_size, **fields)
    return lambda: stub.StreamBatches(request, timeout=10)


def describe(stub, spec: DatasetSpec):  # type: ignore[no-untyped-def]
    return lambda: stub.Describe(pb.DescribeRequest(spec=spec.to_proto()), timeout=10)


def get_windows(stub, spec: DatasetSpec, indices: list[int]):  # type: ignore[no-untyped-def]
    request = pb.GetWindowsRequest(spec=spec.to_proto(), indices=indices)
    return lambda: stub.GetWindows(request, timeout=10)


def raised_by_client(error: type[PeakSQLError], action: Callable[[], object]) -> str:
    with pytest.raises(error) as caught:
        action()
    return str(caught.value)


BAD_CONSTRAINTS = (
    "chromosome = 'chr1'; DROP TABLE intervals",
    "colour = 'blue'",
    "length(chromosome) > 3",
    "start > (SELECT 1)",
    "chromosome = ",
)


@pytest.mark.parametrize("where", BAD_CONSTRAINTS)
def test_invalid_constraint_is_invalid_argument_with_the_parsers_message(
    stub, client, where: str
) -> None:
    message = parser_message(where)
    spec = DatasetSpec(seq_length=SEQ_LENGTH, where=where)
    for call in (describe(stub, spec), stream(stub, spec), get_windows(stub, spec, [0])):
        assert remote_status(call) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    train = Dataset(client, seq_length=SEQ_LENGTH, where=where, batch_size=8)
    assert raised_by_client(InvalidArgument, train.describe) == message
    assert raised_by_client(InvalidArgument, lambda: next(iter(train))) == message
    assert raised_by_client(InvalidArgument, lambda: train.get_batch([0])) == message


def test_unknown_assembly_or_chromosome_is_not_found(stub, client) -> None:
    for where in ("assembly = 'hg38'", "chromosome = 'chrX'"):
        spec = DatasetSpec(seq_length=SEQ_LENGTH, where=where)
        code, message = remote_status(describe(stub, spec))
        assert code == grpc.StatusCode.NOT_FOUND
        assert where in message or repr(where) in message
        assert remote_status(stream(stub, spec)) == (code, message)
        train = Dataset(client, seq_length=SEQ_LENGTH, where=where, batch_size=8)
        assert raised_by_client(NotFound, lambda t=train: list(t)) == message
        assert raised_by_client(LookupError, train.describe) == message


def test_unknown_condition_is_not_found(stub, client) -> None:
    spec = DatasetSpec(seq_length=SEQ_LENGTH, conditions=("liver", "kidney"))
    code, message = remote_status(describe(stub, spec))
    assert code == grpc.StatusCode.NOT_FOUND and "kidney" in message and "liver" not in message
    assert remote_status(stream(stub, spec)) == (code, message)
    train = Dataset(client, seq_length=SEQ_LENGTH, conditions=["liver", "kidney"], batch_size=8)
    assert raised_by_client(NotFound, lambda: list(train)) == message


def test_batch_over_max_batch_size_is_resource_exhausted(stub, client) -> None:
    spec = DatasetSpec(seq_length=10)
    code, message = remote_status(stream(stub, spec, batch_size=65))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_batch_size" in message
    train = Dataset(client, seq_length=10, batch_size=65)
    assert raised_by_client(ResourceExhausted, lambda: list(train)) == message
    assert list(stub.StreamBatches(pb.StreamRequest(spec=spec.to_proto(), batch_size=64)))


def test_batch_over_max_batch_bytes_is_resource_exhausted(stub, client) -> None:
    # 8 windows of 1000 bp take 8 * (500 + 1) = 4,008 bytes: over 4,000; 7 fit.
    spec = DatasetSpec(seq_length=1000)
    code, message = remote_status(stream(stub, spec, batch_size=8))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_batch_bytes" in message
    assert "4,008" in message
    train = Dataset(client, seq_length=1000, batch_size=8)
    assert raised_by_client(ResourceExhausted, lambda: list(train)) == message
    assert list(stub.StreamBatches(pb.StreamRequest(spec=spec.to_proto(), batch_size=7)))
    code, message = remote_status(get_windows(stub, spec, list(range(8))))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_batch_bytes" in message
    train = Dataset(client, seq_length=1000)
    assert raised_by_client(ResourceExhausted, lambda: train.get_batch(range(8))) == message


def test_too_many_windows_in_get_windows_is_resource_exhausted(stub, client) -> None:
    spec = DatasetSpec(seq_length=SEQ_LENGTH)
    code, message = remote_status(get_windows(stub, spec, list(range(11))))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_get_windows" in message
    train = Dataset(client, seq_length=SEQ_LENGTH)
    assert raised_by_client(ResourceExhausted, lambda: train.get_batch(range(11))) == message
    assert len(train.get_batch(range(10))[0]) == 10


def test_out_of_range_window_index_is_invalid_argument(stub, client) -> None:
    spec = DatasetSpec(seq_length=SEQ_LENGTH, random=20)
    code, message = remote_status(get_windows(stub, spec, [3, 20, 4]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "window index 20" in message and "20 windows" in message
    huge = 2**64 - 1  # would wrap to -1 as int64
    code, message_huge = remote_status(get_windows(stub, spec, [huge]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and f"window index {huge}" in message_huge
    train = Dataset(client, seq_length=SEQ_LENGTH, random=20)
    assert raised_by_client(InvalidArgument, lambda: train.get_batch([3, 20, 4])) == message
    with pytest.raises(IndexError, match="out of range"):
        train[20]


def test_bad_stream_requests_are_invalid_argument(stub) -> None:
    spec = DatasetSpec(seq_length=SEQ_LENGTH)
    for fields in (
        {"batch_size": 0},
        {"cursor": pb.Cursor(rank=2, world_size=2)},
        {"cursor": pb.Cursor(delivered=10**6)},
    ):
        fields.setdefault("batch_size", 8)
        code, message = remote_status(stream(stub, spec, **fields))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (fields, message)
    request = pb.DescribeRequest(spec=pb.DatasetSpec())  # seq_length 0
    code, message = remote_status(lambda: stub.Describe(request, timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "seq_length" in message
