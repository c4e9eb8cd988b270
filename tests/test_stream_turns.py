"""Streams build their batches in chunks, several a scheduler turn (``server/rpc/streams.py``).

What must not change: the bytes on the wire are each batch's message, in order and complete;
turns stay fair by bytes however many messages a turn holds; a client that reads slowly but
steadily is never idle, however long its stream; a cancelled stream stops building. Server
tests run real servers on 127.0.0.1, port 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import psutil
import pytest

from peaksql import Client
from peaksql.core.spec import DatasetSpec
from peaksql.server.engine.batches import build_batch
from peaksql.server.rpc.messages import batch_bytes, batch_message
from peaksql.server.rpc.streams import TURN_BYTES, Chunks, FairScheduler, chunk_bytes
from peaksql.v1 import peaksql_pb2 as pb
from tests.server_fixtures import start
from tests.servers import Reference, ServerProcess, build_big_catalog

#: 2 Mbp at stride 1, 2 kbp windows: a stream far longer than any socket buffer.
BIG = DatasetSpec(seq_length=2000, stride=1, where="assembly = 'big'")
SPECS = (
    DatasetSpec(seq_length=201, stride=150, label="any"),
    DatasetSpec(seq_length=201, stride=90, label="fraction", fraction=0.3),
    DatasetSpec(seq_length=201, random=40, label="summit", inner_range=101, seed=3),
    DatasetSpec(seq_length=200, stride=70, label="per_base", reverse_complement="both"),
)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    return build_big_catalog(tmp_path_factory.mktemp("turns"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.label)
def test_stream_bytes_parse_to_the_batch_message(catalog: tuple[str, Path], spec) -> None:  # type: ignore[no-untyped-def]
    reference = Reference(*catalog)
    try:
        plan = reference.plan(spec)
        batches = [
            *reference.batches(spec, 7, shuffle=True, seed=1),
            build_batch(plan, np.arange(min(5, plan.num_windows))),  # no cursor
        ]
        for batch in batches:
            for coordinates in (False, True):
                want = batch_message(batch, spec.seq_length, coordinates)
                got = pb.Batch.FromString(batch_bytes(batch, spec.seq_length, coordinates))
                assert got == want
                assert got.labels.dtype and got.sequences
    finally:
        reference.close()


def test_a_long_stream_of_one_window_batches_arrives_whole_and_in_order(
    catalog: tuple[str, Path],
) -> None:
    """Turns grow from one message to many: every batch comes, once, in the engine's order."""
    spec = DatasetSpec(seq_length=100, stride=3, label="any", where="assembly = 'mini'")
    reference = Reference(*catalog)
    running = start(*catalog)
    try:
        expected = reference.batches(spec, 1, shuffle=True, seed=2)
        assert len(expected) > 1000  # many turns, the later ones of many messages
        request = pb.StreamRequest(
            spec=spec.to_proto(), batch_size=1, shuffle=True, seed=2, include_coordinates=True
        )
        with Client(f"127.0.0.1:{running.port}") as client:
            received = list(client.stream(request))
        assert [np.frombuffer(b.coordinates.window_index, "<i8")[0] for b in received] == [
            int(b.window_indices[0]) for b in expected
        ]
        assert [b.cursor.delivered for b in received] == [b.cursor.delivered for b in expected]
        assert received[-1].sequences == expected[-1].sequences.tobytes()
    finally:
        running.shutdown(0)
        reference.close()


def test_turns_of_many_messages_are_shared_by_bytes() -> None:
    """``big`` sends 64 KB messages (4 a turn), ``small`` 1 KB ones (as many as fit a turn's
    time): one build thread, and each caller is sent about as many bytes as the other."""
    sent = {"big": 0, "small": 0}

    def messages(size: int) -> Iterator[bytes]:
        while True:
            time.sleep(0.0002)  # the cost of building a batch
            yield bytes(size)

    async def run() -> None:
        scheduler = FairScheduler(ThreadPoolExecutor(1), slots=1)

        async def stream(caller: str, size: int) -> None:
            chunks = Chunks(messages(size))
            while sum(sent.values()) < 40 * TURN_BYTES:
                chunk = await scheduler.run(caller, chunks, cost=chunk_bytes)
                sent[caller] += sum(len(message) for message in chunk)

        await asyncio.gather(stream("big", 64 * 1024), stream("small", 1024))

    asyncio.run(run())
    assert 0.6 < sent["small"] / sent["big"] < 1.6, sent


def test_a_stopped_build_ends_at_the_next_message() -> None:
    chunks = Chunks(iter([b"a", b"b", b"c"]))
    assert chunks() == [b"a"]  # the first turn is one message: the first batch comes soon
    assert chunks() == [b"b", b"c"] and not chunks.finished
    chunks.stopped = True
    assert chunks() == []
    chunks.stopped = False
    assert chunks() == [] and chunks.finished


def test_a_slow_but_steady_reader_outlives_the_idle_limit(catalog: tuple[str, Path]) -> None:
    """Every message is taken well within the limit, for three times the limit in all."""
    running = start(*catalog, stream_idle_seconds=1.0)
    try:
        with Client(f"127.0.0.1:{running.port}") as client:
            stream = client.stream(pb.StreamRequest(spec=BIG.to_proto(), batch_size=16))
            began, count = time.monotonic(), 0
            for _ in stream:
                count += 1
                if time.monotonic() - began > 3.5:
                    break
                time.sleep(0.005)
            stream.close()  # type: ignore[attr-defined]
        assert count > 100
    finally:
        running.shutdown(0)


def test_a_cancelled_stream_stops_building(catalog: tuple[str, Path]) -> None:
    """A stream of 4 MB batches uses the server's CPU while read; once cancelled, none."""
    with ServerProcess.start(*catalog, extra=["--workers", "2"]) as server:
        process = psutil.Process(server.pid)

        def cpu_seconds() -> float:
            times = process.cpu_times()
            return times.user + times.system

        channel = grpc.insecure_channel(
            server.address, options=[("grpc.max_receive_message_length", 64 << 20)]
        )
        request = pb.StreamRequest(spec=BIG.to_proto(), batch_size=2048)
        stream = channel.unary_stream(
            "/peaksql.v1.PeakSQL/StreamBatches",
            request_serializer=pb.StreamRequest.SerializeToString,
        )(request)
        next(stream)  # planned, streaming
        began, cpu = time.monotonic(), cpu_seconds()
        while time.monotonic() - began < 1.0:
            next(stream)
        busy = cpu_seconds() - cpu
        stream.cancel()  # type: ignore[attr-defined]
        with contextlib.suppress(grpc.RpcError):
            next(stream)
        time.sleep(0.5)
        cpu = cpu_seconds()
        time.sleep(1.0)
        idle = cpu_seconds() - cpu
        channel.close()
        assert busy > 0.3, busy
        assert idle < 0.1, idle
