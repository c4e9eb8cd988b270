"""Every serving limit refuses with RESOURCE_EXHAUSTED and names itself, over a real server.

One server with small limits; each test goes just over one limit (and, where it is cheap,
checks that exactly at the limit still works), so a limit enforced off by one fails here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from peaksql import Client
from peaksql.core.errors import InvalidArgument, ResourceExhausted
from peaksql.core.spec import DatasetSpec
from peaksql.dataset import Dataset
from peaksql.server.catalog.database import open_database
from peaksql.server.config import Limits
from peaksql.server.ingest.assembly import add_assembly
from peaksql.server.rpc.serve import RunningServer
from peaksql.v1 import peaksql_pb2 as pb
from tests.conftest import EXAMPLE_DIR
from tests.server_fixtures import build_catalog, start

LIMITS = Limits(
    max_batch_bytes=4096,
    max_batch_size=100,
    max_get_windows=10,
    max_streams_per_token=2,
    max_constraint_length=200,
    max_in_list=3,
    max_plans=2,
)
TOKENS = {"alice": "alice-secret-1", "bob": "bob-secret-2"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("limits")
    data_dir = root / "data"
    data_dir.mkdir()
    db = f"sqlite:///{root / 'catalog.db'}"
    build_catalog(db, data_dir)
    # a 2 Mbp assembly: a stride-1 stream over it (100 MB) cannot finish into socket buffers
    engine = open_database(db)
    add_assembly(engine, data_dir, EXAMPLE_DIR / "genome.fa", "big", progress=False)
    engine.dispose()
    tokens = root / "tokens"
    tokens.write_text("".join(f"{name} {token}\n" for name, token in TOKENS.items()))
    running = start(db, data_dir, limits=LIMITS, tokens_file=tokens)
    yield running
    running.shutdown(0)


def client(server: RunningServer, user: str = "alice") -> Client:
    return Client(f"127.0.0.1:{server.port}", token=TOKENS[user])


def stream_request(batch_size: int, seq_length: int = 100, stride: int = 1) -> pb.StreamRequest:
    spec = DatasetSpec(seq_length=seq_length, stride=stride)
    return pb.StreamRequest(spec=spec.to_proto(), batch_size=batch_size)


def test_batch_bytes_limit_counts_sequence_and_label_bytes(server: RunningServer) -> None:
    # a 1000 bp window packs into 500 bytes plus 1 byte for its one label column
    with client(server) as c:
        batch = next(c.stream(stream_request(batch_size=8, seq_length=1000, stride=1000)))
        assert len(batch.sequences) == 8 * 500 and batch.ByteSize() <= LIMITS.max_batch_bytes
        with pytest.raises(ResourceExhausted, match=r"max_batch_bytes"):
            next(c.stream(stream_request(batch_size=9, seq_length=1000, stride=1000)))


def test_a_dataset_asks_for_smaller_messages_until_the_limits_allow(
    server: RunningServer,
) -> None:
    """4 MB messages are over this server's limits (100 windows, 4 KB): the ``Dataset`` halves
    its request down to 64 windows (3.3 KB) a message, not one batch of 4 a message."""
    with client(server) as c:
        data = Dataset(c, seq_length=100, stride=1, batch_size=4, where="assembly = 'tiny'")
        assert data.message_sizes() == [
            16_384 >> k for k in range(13)
        ]  # 16,384 ... 64, 32, 16, 8, 4
        sent = server.metrics.registry.get_sample_value("peaksql_batches_total") or 0.0
        windows = sum(x.shape[0] for x, _ in data)
        messages = server.metrics.registry.get_sample_value("peaksql_batches_total") - sent
    assert windows == data.num_windows_per_epoch()
    assert messages == 1 + -(-(windows - 4) // 64)  # the first message holds one batch


def test_batch_size_limit(server: RunningServer) -> None:
    with client(server) as c:
        assert next(c.stream(stream_request(batch_size=100, seq_length=10))).batch_size == 100
        with pytest.raises(ResourceExhausted, match=r"max_batch_size"):
            next(c.stream(stream_request(batch_size=101, seq_length=10)))


def test_get_windows_limit(server: RunningServer) -> None:
    spec = DatasetSpec(seq_length=10)
    with client(server) as c:
        assert c.get_windows(spec, range(10), include_coordinates=False).batch_size == 10
        with pytest.raises(ResourceExhausted, match=r"max_get_windows"):
            c.get_windows(spec, range(11), include_coordinates=False)


def test_constraint_length_limit(server: RunningServer) -> None:
    long = "chromosome = 'chr1'" + " " * (LIMITS.max_constraint_length - 18)
    assert len(long) == LIMITS.max_constraint_length + 1
    with client(server) as c:
        c.describe(DatasetSpec(seq_length=100, where=long.rstrip()))
        with pytest.raises(ResourceExhausted, match=r"max_constraint_length"):
            c.describe(DatasetSpec(seq_length=100, where=long))


def test_in_list_limit_and_invalid_constraints_stay_invalid(server: RunningServer) -> None:
    three = "chromosome IN ('chr1', 'chr2', 'chr3')"
    four = "chromosome IN ('chr1', 'chr2', 'chr3', 'chr4')"
    with client(server) as c:
        described = c.describe(DatasetSpec(seq_length=100, where=three))
        assert [r.chromosome for r in described.regions] == ["chr1", "chr2"]
        with pytest.raises(ResourceExhausted, match=r"max_in_list"):
            c.describe(DatasetSpec(seq_length=100, where=four))
        with pytest.raises(ResourceExhausted, match=r"max_in_list"):
            next(
                c.stream(
                    pb.StreamRequest(spec=DatasetSpec(100, where=four).to_proto(), batch_size=4)
                )
            )
        # over the limit and invalid anyway: the caller must hear what is wrong with it
        with pytest.raises(InvalidArgument, match=r"colour") as error:
            c.describe(DatasetSpec(seq_length=100, where=four.replace("chromosome", "colour")))
        assert not isinstance(error.value, ResourceExhausted)


def _open_when_free(c: Client, request: pb.StreamRequest, seconds: float = 5.0) -> Iterator:
    """A stream with its first batch read, retried while the server still counts a closed one."""
    deadline = time.monotonic() + seconds
    while True:
        stream = c.stream(request)
        try:
            next(stream)
            return stream
        except ResourceExhausted:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_concurrent_streams_per_token(server: RunningServer) -> None:
    # 2M windows of 100 bp (100 MB): far more than flow control lets the server send unread
    request = stream_request(batch_size=8)
    request.spec.where = "assembly = 'big'"
    with client(server, "alice") as alice, client(server, "bob") as bob:
        streams = [alice.stream(request) for _ in range(LIMITS.max_streams_per_token)]
        for s in streams:
            next(s)
        with pytest.raises(ResourceExhausted, match=r"max_streams_per_token"):
            next(alice.stream(request))
        streams.append(_open_when_free(bob, request))  # another token has its own quota
        streams[0].close()  # cancels the call; the server frees the slot
        streams.append(_open_when_free(alice, request))
        with pytest.raises(ResourceExhausted, match=r"max_streams_per_token"):
            next(alice.stream(request))
        for s in streams:
            s.close()


def test_plan_cache_is_bounded(server: RunningServer) -> None:
    with client(server) as c:
        for seq_length in (11, 12, 13, 14):
            c.describe(DatasetSpec(seq_length=seq_length))
    assert len(server.engine.plans) == LIMITS.max_plans
    assert server.metrics.registry.get_sample_value("peaksql_plans_cached") == LIMITS.max_plans
    assert server.metrics.registry.get_sample_value("peaksql_plan_compile_seconds_count") >= 4


def test_limits_reach_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from peaksql.server.cli import _serve_config, build_parser

    monkeypatch.setenv("PEAKSQL_MAX_IN_LIST", "7")
    args = build_parser().parse_args(
        ["serve", "--max-batch-bytes", "1234", "--data-dir", str(tmp_path)]
    )
    config = _serve_config(args)
    assert config.limits.max_batch_bytes == 1234 and config.limits.max_in_list == 7
    assert config.limits.max_plans == Limits().max_plans


def test_a_request_parses_its_constraint_once(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peaksql.server.engine import constraints, dataset_engine, plan, plan_cache

    calls: list[str] = []

    def counting(text: str | None, **limits: int) -> constraints.Where:
        calls.append(text or "")
        return constraints.parse_where(text, **limits)

    for module in (dataset_engine, plan_cache, plan):
        monkeypatch.setattr(module, "parse_where", counting)
    where = "chromosome IN ('chr1', 'chr2') AND length > 17"
    with client(server) as c:
        c.describe(DatasetSpec(seq_length=100, where=where))
        assert calls == [where]  # a plan-cache miss: parsed once, not by the cache again
        c.get_windows(DatasetSpec(seq_length=100, where=where), [0], include_coordinates=False)
        assert calls == [where]  # a hit with the same constraint: parsed no more


def test_constraint_limits_are_checked_where_it_is_parsed() -> None:
    from peaksql.core.errors import ConstraintError
    from peaksql.server.engine.dataset_engine import parse_constraint

    limits = Limits(max_constraint_length=60, max_in_list=2)
    assert parse_constraint("chromosome IN ('a', 'b')", limits).canonical
    assert parse_constraint("", limits).canonical == ""
    with pytest.raises(ResourceExhausted, match=r"max_in_list"):
        parse_constraint("chromosome IN ('a', 'b', 'c')", limits)
    with pytest.raises(ConstraintError, match=r"colour"):
        parse_constraint("colour IN ('a', 'b', 'c')", limits)
    with pytest.raises(ResourceExhausted, match=r"61 characters.*max_constraint_length"):
        parse_constraint(" " * 61, limits)
