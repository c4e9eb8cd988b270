"""Clients never hang, and a catalog database that goes away is a clean, temporary failure.

Frozen replica: two ``peaksql serve`` subprocesses; the one a stream is reading from is
stopped with SIGSTOP (its sockets stay open, it answers nothing). The client notices within
seconds (keepalive, or no message for ``message_timeout``) and continues from its cursor on
the other: every window index of the epoch exactly once. With one address the error says the
server stopped answering and how long the client waited.

Database down: a server reads PostgreSQL through a TCP proxy the test cuts and restores.
Requests that need the database get UNAVAILABLE naming it (never the password), health goes
NOT_SERVING and back to SERVING, a stream already planned keeps streaming, and a client with a
healthy second replica does not notice.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from peaksql import Client, Dataset
from peaksql.core.errors import Unavailable
from peaksql.core.spec import DatasetSpec
from peaksql.v1 import peaksql_pb2 as pb
from tests.server_fixtures import build_catalog, start
from tests.servers import ServerProcess, build_big_catalog
from tests.tcp_proxy import TcpProxy

SEQ_LENGTH, STRIDE, BATCH = 2000, 100, 64


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    return build_big_catalog(tmp_path_factory.mktemp("frozen"))


def _dataset(client: Client) -> Dataset:
    return client.dataset(
        seq_length=SEQ_LENGTH,
        stride=STRIDE,
        where="assembly = 'big'",
        batch_size=BATCH,
        include_coordinates=True,
        packed=True,
        prefetch=1,
    )


def test_a_frozen_replica_is_left_within_seconds_with_no_gap(catalog: tuple[str, Path]) -> None:
    with ServerProcess.start(*catalog) as a, ServerProcess.start(*catalog) as b:
        by_address = {a.address: a, b.address: b}
        with Client([a.address, b.address], message_timeout=2.0) as client:
            data = _dataset(client)
            expected = data.num_windows
            seen: list[np.ndarray] = []
            frozen_at = resumed_after = None
            for _x, _y, coordinates in data:
                if frozen_at is not None and resumed_after is None:
                    resumed_after = time.monotonic() - frozen_at
                seen.append(coordinates[:, 0].copy())
                if len(seen) == 20:
                    os.kill(by_address[client.current_address].pid, signal.SIGSTOP)
                    frozen_at = time.monotonic()
                time.sleep(0.002)
            assert frozen_at is not None and resumed_after is not None
    indices = np.concatenate(seen)
    assert indices.size == expected  # no duplicate, no gap: each window exactly once, in order
    assert np.array_equal(indices, np.arange(expected))
    # buffered batches drain first, then the stall is noticed and the stream moves on
    assert resumed_after < 10.0


def test_a_single_frozen_server_is_reported_with_the_time_waited(
    catalog: tuple[str, Path],
) -> None:
    with (
        ServerProcess.start(*catalog) as server,
        Client(server.address, message_timeout=1.0, failover_rounds=1) as client,
    ):
        request = pb.StreamRequest(
            spec=DatasetSpec(SEQ_LENGTH, stride=1, where="assembly = 'big'").to_proto(),
            batch_size=BATCH,
        )
        stream = client.stream(request)
        next(stream)
        os.kill(server.pid, signal.SIGSTOP)
        began = time.monotonic()
        with pytest.raises(Unavailable, match=r"stopped answering") as error:
            for _ in stream:
                pass
        assert time.monotonic() - began < 20
        assert "s without a message" in str(error.value)
        assert "message_timeout" in str(error.value)


# -- the catalog database goes away -----------------------------------------------------


def _health(port: int) -> str:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def _wait_for(port: int, status: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while _health(port) != status:
        assert time.monotonic() < deadline, f"health never became {status}"
        time.sleep(0.1)


@pytest.mark.postgres
def test_an_unreachable_database_is_unavailable_and_not_serving_until_back(
    postgres_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    build_catalog(postgres_url, data_dir)
    url = sa.engine.make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)).start()
    via_proxy = url.set(host="127.0.0.1", port=proxy.port, password="s3cret-pw")
    db = via_proxy.render_as_string(hide_password=False)
    broken = start(db, data_dir, db_probe_seconds=0.3)
    healthy = start(postgres_url, data_dir)
    spec = DatasetSpec(seq_length=100, stride=10)
    request = pb.StreamRequest(spec=spec.to_proto(), batch_size=8)
    try:
        with Client(f"127.0.0.1:{broken.port}", failover_rounds=1) as client:
            planned = client.stream(request)
            next(planned)  # planned before the database goes
            proxy.stop()
            with pytest.raises(Unavailable) as error:
                client.conditions()
            message = str(error.value)
            assert f"127.0.0.1:{proxy.port}/{url.database}" in message
            assert "s3cret-pw" not in message and "connection" not in message.lower()
            _wait_for(broken.port, "NOT_SERVING")
            assert sum(1 for _ in planned) > 10  # the planned stream streams on
            assert client.describe(spec, count_positives=False).num_windows > 0  # cached plan
        replicas = [f"127.0.0.1:{broken.port}", f"127.0.0.1:{healthy.port}"]
        with Client(replicas) as client:
            assert [c.name for c in client.conditions()] == ["peaks"]
        proxy.start()  # the same port again
        _wait_for(broken.port, "SERVING")
        with Client(f"127.0.0.1:{broken.port}") as client:
            assert [c.name for c in client.conditions()] == ["peaks"]
    finally:
        proxy.stop()
        broken.shutdown(0)
        healthy.shutdown(0)
