"""The gRPC service end to end, sessions: resuming, concurrency, cancellation, the side services.

On SQLite and PostgreSQL over 127.0.0.1, like ``test_service`` (which compares the bytes).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import peaksql
from peaksql.core.errors import InvalidArgument, Unavailable
from peaksql.core.spec import DatasetSpec
from peaksql.dataset import Dataset
from peaksql.v1 import peaksql_pb2 as pb
from tests.servers import (
    CHROMOSOME_LENGTHS,
    Reference,
    ServerProcess,
    build_catalog,
    running_server,
)
from tests.test_service import SEQ_LENGTH, assert_same_batches, stream_request


@pytest.fixture
def catalog(db_url: str, data_dir: Path) -> tuple[str, Path]:
    build_catalog(db_url, data_dir)
    return db_url, data_dir


@pytest.fixture
def reference(catalog: tuple[str, Path]):  # type: ignore[no-untyped-def]
    ref = Reference(*catalog)
    yield ref
    ref.close()


@pytest.fixture
def server(catalog: tuple[str, Path]):  # type: ignore[no-untyped-def]
    with running_server(*catalog) as running:
        yield running


@pytest.fixture
def client(server):  # type: ignore[no-untyped-def]
    with peaksql.Client(f"127.0.0.1:{server.port}") as c:
        yield c


def test_same_seed_gives_identical_bytes_across_clients(server) -> None:
    def epoch() -> list[pb.Batch]:
        with peaksql.Client(f"127.0.0.1:{server.port}") as c:
            spec = DatasetSpec(seq_length=SEQ_LENGTH, random=80, seed=21)
            return list(c.stream(stream_request(spec, 13, (True, 8, 3, 0, 1, False))))

    first, second = epoch(), epoch()
    assert [b.SerializeToString() for b in first] == [b.SerializeToString() for b in second]


def _consume(train: Dataset, num_batches: int) -> list[np.ndarray]:
    taken = []
    for _, _, c in train:
        taken.append(c[:, 0])
        if len(taken) == num_batches:
            break
    return taken


def test_resume_from_state_dict_in_a_new_client(server) -> None:
    args = dict(
        seq_length=SEQ_LENGTH,
        stride=60,
        batch_size=8,
        shuffle=True,
        seed=6,
        rank=1,
        world_size=2,
        include_coordinates=True,
        prefetch=3,
    )
    with peaksql.Client(f"127.0.0.1:{server.port}") as c:
        whole = np.concatenate([c[:, 0] for _, _, c in Dataset(c, **args)])
        cut = Dataset(c, **args)
        head = _consume(cut, 5)
        state = cut.state_dict()
    assert state["delivered"] == 40
    with peaksql.Client(f"127.0.0.1:{server.port}") as other:
        resumed = Dataset(other, **args)
        resumed.load_state_dict(state)
        tail = [c[:, 0] for _, _, c in resumed]
    np.testing.assert_array_equal(np.concatenate(head + tail), whole)


def test_resume_after_the_server_is_killed_and_restarted(catalog) -> None:
    # 100,000 windows of 1 kb (50 MB, a dozen 4 MB messages): far more than the transport
    # buffers, so the stream is really cut mid-epoch by the SIGKILL.
    db_url, data_dir = catalog
    args = dict(
        seq_length=1000,
        random=100_000,
        batch_size=32,
        shuffle=True,
        seed=13,
        include_coordinates=True,
        prefetch=2,
    )
    with ServerProcess.start(db_url, data_dir) as first, peaksql.Client(first.address) as c:
        whole = np.concatenate([c[:, 0] for _, _, c in Dataset(c, **args)])
        cut = Dataset(c, **args)
        batches = iter(cut)
        head = [next(batches)[2][:, 0] for _ in range(4)]
        first.kill()  # SIGKILL with the stream open
        with pytest.raises(Unavailable):
            for _, _, coordinates_ in batches:  # what was prefetched, then the failure
                head.append(coordinates_[:, 0])
        state = cut.state_dict()
    assert 4 * 32 <= state["delivered"] < 100_000
    with ServerProcess.start(db_url, data_dir) as second, peaksql.Client(second.address) as c:
        resumed = Dataset(c, **args)
        resumed.load_state_dict(state)
        tail = [c[:, 0] for _, _, c in resumed]
    np.testing.assert_array_equal(np.concatenate(head + tail), whole)


def test_concurrent_clients_with_different_specs(server, reference) -> None:
    specs = [
        DatasetSpec(seq_length=SEQ_LENGTH, stride=40 + 7 * k, label=mode, seed=k)
        for k, mode in enumerate(("any", "all", "summit", "fraction", "per_base", "any"))
    ]
    results: dict[int, list[pb.Batch]] = {}
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            with peaksql.Client(f"127.0.0.1:{server.port}") as c:
                order = (True, k, k % 2, k % 2, 2, False)
                results[k] = list(c.stream(stream_request(specs[k], 5 + k, order)))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(specs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for k, spec in enumerate(specs):
        expected = reference.batches(
            spec, 5 + k, shuffle=True, seed=k, epoch=k % 2, rank=k % 2, world_size=2
        )
        assert_same_batches(results[k], expected, SEQ_LENGTH)


def _sample(server, name: str) -> float:  # type: ignore[no-untyped-def]
    return server.metrics.registry.get_sample_value(name) or 0.0


def test_a_client_that_stops_early_stops_the_servers_work(server) -> None:
    # 100,000 windows of 1 kb, 50 MB of sequence in 782 batches (many batches to a 4 MB
    # message): the server must not build the epoch for a client that took three batches.
    num_windows, num_batches = 100_000, 782
    with peaksql.Client(f"127.0.0.1:{server.port}") as c:
        train = Dataset(c, seq_length=1000, random=num_windows, batch_size=128, prefetch=2)
        assert len(train) == num_batches
        began = time.monotonic()
        for taken, _ in enumerate(train, start=1):
            if taken == 3:
                break
        assert time.monotonic() - began < 5
        deadline = time.monotonic() + 5
        while _sample(server, "peaksql_active_streams") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _sample(server, "peaksql_active_streams") == 0
        built = _sample(server, "peaksql_batches_total")
        time.sleep(0.3)
        assert _sample(server, "peaksql_batches_total") == built  # nothing more is built
    built_windows = built * train.windows_per_message()
    assert 3 * 128 <= built_windows < num_windows // 2


def test_reflection_lists_the_service(server) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
        names = {s.name for s in response.list_services_response.service}
        assert {"peaksql.v1.PeakSQL", "grpc.health.v1.Health"} <= names
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="peaksql.v1.Batch")
        (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
        assert response.file_descriptor_response.file_descriptor_proto


def test_health_answers_serving(server) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "peaksql.v1.PeakSQL"):
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_catalog_calls(client) -> None:
    (assembly,) = client.assemblies()
    assert assembly.name == "mini" and assembly.species == "synthetic"
    assert dict(assembly.chromosomes) == CHROMOSOME_LENGTHS
    assert assembly.length == sum(CHROMOSOME_LENGTHS.values())
    conditions = {c.name: c.num_intervals for c in client.conditions()}
    assert conditions == {"heart": 18, "liver": 24}


def test_breaking_out_early_returns_at_once_and_leaves_no_thread(client) -> None:
    # The whole epoch fits in the prefetch queue: the producer is done before the loop breaks.
    train = Dataset(client, seq_length=SEQ_LENGTH, stride=200, batch_size=6, prefetch=4)
    assert len(train) == 5
    began = time.monotonic()
    for _ in train:
        time.sleep(0.2)  # the producer fills the queue meanwhile
        break
    assert time.monotonic() - began < 1.5
    time.sleep(0.2)
    assert not [t for t in threading.enumerate() if t.name == "peaksql-prefetch"]
    assert train.state_dict()["delivered"] == 6 and train.state_dict()["epoch"] == 0


def test_state_of_another_shard_or_order_is_refused(client) -> None:
    state = Dataset(client, seq_length=SEQ_LENGTH, rank=0, world_size=2).state_dict()
    for other in (
        {"rank": 1, "world_size": 2},
        {"world_size": 1},
        {"seed": 1, "world_size": 2},
        {"shuffle": True, "world_size": 2},
        {"equal_shares": True, "world_size": 2},
    ):
        with pytest.raises(InvalidArgument, match="state was saved with"):
            Dataset(client, seq_length=SEQ_LENGTH, **other).load_state_dict(state)
