"""A shared server stays up: open streams cost no thread, stalled ones end, limits refuse at once.

A ``peaksql serve`` subprocess with two batch threads holds 16 streams that read one message
and stop, plus 4 that read slowly; health, ListConditions and Describe must still answer in
under 100 ms (90th percentile of 20 calls each). In-process servers check the server-wide
stream limit (RESOURCE_EXHAUSTED at once, naming it) and the idle limit (a stream whose
client stops reading ends DEADLINE_EXCEEDED naming ``stream_idle_seconds``).
``FairScheduler`` is checked alone: builds are shared by bytes sent, not by messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from peaksql import Client
from peaksql.core.errors import PeakSQLError, ResourceExhausted
from peaksql.core.spec import DatasetSpec
from peaksql.server.config import Limits
from peaksql.server.rpc.streams import FairScheduler
from peaksql.v1 import peaksql_pb2 as pb
from peaksql.v1 import peaksql_pb2_grpc as pb_grpc
from tests.server_fixtures import start
from tests.servers import ServerProcess, build_big_catalog

#: 2 Mbp at stride 1: a stream far longer than any socket buffer.
BIG = DatasetSpec(seq_length=2000, stride=1, where="assembly = 'big'")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    return build_big_catalog(tmp_path_factory.mktemp("shared"))


def _stream(channel: grpc.Channel, batch_size: int = 64) -> Iterator[pb.Batch]:
    request = pb.StreamRequest(spec=BIG.to_proto(), batch_size=batch_size)
    return pb_grpc.PeakSQLStub(channel).StreamBatches(request)


def _latencies(call, count: int = 20) -> list[float]:  # type: ignore[no-untyped-def]
    took = []
    for _ in range(count):
        began = time.perf_counter()
        call()
        took.append(time.perf_counter() - began)
        time.sleep(0.02)
    return took


def test_health_listing_and_describe_answer_while_16_streams_stall(
    catalog: tuple[str, Path],
) -> None:
    stop = threading.Event()
    with ServerProcess.start(*catalog, extra=["--workers", "2"]) as server:
        channels = [grpc.insecure_channel(server.address) for _ in range(20)]
        stalled = [_stream(channel) for channel in channels[:16]]
        for stream in stalled:
            next(stream)  # open, then never read again

        def slow(stream: Iterator[pb.Batch]) -> None:
            with contextlib.suppress(grpc.RpcError):  # the server goes first at the end
                for _ in stream:
                    if stop.wait(0.2):
                        return

        readers = [
            threading.Thread(target=slow, args=(_stream(c),), daemon=True) for c in channels[16:]
        ]
        for reader in readers:
            reader.start()
        probe = grpc.insecure_channel(server.address)
        health = health_pb2_grpc.HealthStub(probe)
        stub = pb_grpc.PeakSQLStub(probe)
        describe = pb.DescribeRequest(spec=BIG.to_proto(), skip_positives=True)
        stub.Describe(describe, timeout=30)  # the plan is cached: the rest is the server's speed
        time.sleep(1.0)  # let the stalled streams fill their buffers
        checks = {
            "health": lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5),
            "ListConditions": lambda: stub.ListConditions(pb.ListConditionsRequest(), timeout=5),
            "Describe": lambda: stub.Describe(describe, timeout=5),
        }
        for name, call in checks.items():
            took = _latencies(call)
            # the 90th percentile: a shared 2-core test host has other tenants
            assert statistics.quantiles(took, n=10)[-1] < 0.1, (name, took)
        stop.set()
        for channel in [*channels, probe]:
            channel.close()


def test_a_stream_over_the_server_limit_is_refused_at_once(catalog: tuple[str, Path]) -> None:
    running = start(*catalog, limits=Limits(max_streams=4))
    channels = [grpc.insecure_channel(f"127.0.0.1:{running.port}") for _ in range(5)]
    try:
        held = [_stream(channel) for channel in channels[:4]]
        for stream in held:
            next(stream)
        began = time.monotonic()
        with pytest.raises(grpc.RpcError) as error:
            next(_stream(channels[4]))
        assert time.monotonic() - began < 2.0
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_streams = 4" in error.value.details()
        for stream in held:
            stream.cancel()  # type: ignore[attr-defined]
    finally:
        for channel in channels:
            channel.close()
        running.shutdown(0)


def test_a_stream_whose_client_stops_reading_is_closed_after_the_idle_limit(
    catalog: tuple[str, Path],
) -> None:
    running = start(*catalog, stream_idle_seconds=1.0)
    try:
        with Client(f"127.0.0.1:{running.port}") as client:
            request = pb.StreamRequest(spec=BIG.to_proto(), batch_size=64)
            stream = client.stream(request)
            next(stream)
            time.sleep(3.0)  # read nothing: the server's writes block, then it gives up
            began = time.monotonic()
            with pytest.raises(PeakSQLError, match=r"stream_idle_seconds") as error:
                for _ in stream:  # what was buffered, then the status
                    pass
            assert error.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - began < 10
        assert running.metrics.registry.get_sample_value("peaksql_active_streams") == 0
    finally:
        running.shutdown(0)


def test_the_scheduler_shares_builds_by_bytes_not_messages() -> None:
    """Caller ``big`` gets 10 KB a build, ``small`` 1 KB: over time their bytes are level."""
    sent = {"big": 0, "small": 0}

    async def run() -> None:
        scheduler = FairScheduler(ThreadPoolExecutor(1), slots=1)

        async def stream(caller: str, size: int) -> None:
            for _ in range(200):
                await scheduler.run(caller, time.sleep, 0.0005)
                scheduler.charge(caller, size)
                sent[caller] += size
                if sum(sent.values()) > 200_000:
                    return

        await asyncio.gather(stream("big", 10_000), stream("small", 1_000))

    asyncio.run(run())
    assert 0.7 < sent["small"] / sent["big"] < 1.4, sent


def test_a_server_limit_is_a_setting(catalog: tuple[str, Path]) -> None:
    """The stream limit reaches the client as ResourceExhausted through ``Client.stream``."""
    running = start(*catalog, limits=Limits(max_streams=1))
    try:
        with Client(f"127.0.0.1:{running.port}") as client:
            request = pb.StreamRequest(spec=BIG.to_proto(), batch_size=64)
            first = client.stream(request)
            next(first)
            with pytest.raises(ResourceExhausted, match=r"max_streams"):
                next(client.stream(request))
            first.close()  # type: ignore[attr-defined]
    finally:
        running.shutdown(0)
