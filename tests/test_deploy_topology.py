"""The lab topology run for real on the local PostgreSQL (no Docker engine here).

The migrate service's command (admin role, creates the read-only role), an ingest with
``peaksql add-assembly`` / ``add-data``, and two server processes with exactly the server
service's command and environment (only hosts, ports, the data volume, secret files and
role/database names rewritten). A client given both addresses streams a shuffled epoch, one
replica is killed mid-epoch, and the epoch must equal, byte for byte, the one an untroubled
replica serves: no gap, no duplicate. Metrics and JSON logs are read back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from peaksql import Client
from peaksql.core.errors import Unauthenticated
from peaksql.core.spec import DatasetSpec
from peaksql.v1 import peaksql_pb2 as pb
from tests.conftest import POSTGRES_URL
from tests.deploy_helpers import COMPOSE, PEAKSQL, SECRETS, SERVICES, cli_args, epoch
from tests.server_fixtures import free_port, write_genome


class Topology:
    """Rewrites compose values for this machine: hosts, ports, paths, database, roles."""

    def __init__(self, root: Path, database: str, roles: dict[str, str]) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.secrets = root / "secrets"
        self.database = database
        self.roles = roles
        self.data_dir.mkdir()
        self.secrets.mkdir()
        for name in COMPOSE["secrets"]:
            (self.secrets / name).write_text(uuid.uuid4().hex + "\n")
        self.token = (self.secrets / "client_token").read_text().strip()
        (self.secrets / "tokens").write_text(f"alice {self.token}\n")

    def value(self, text: str) -> str:
        if text.startswith(SECRETS):
            return str(self.secrets / text.removeprefix(SECRETS))
        if text == "/data":
            return str(self.data_dir)
        if text in self.roles:
            return self.roles[text]
        if "://" in text:
            url, local = sa.engine.make_url(text), sa.engine.make_url(POSTGRES_URL)
            return url.set(
                host=local.host,
                port=local.port,
                database=self.database,
                username=self.roles[url.username],
            ).render_as_string(hide_password=False)
        return text

    def command(self, service: str) -> list[str]:
        return [*PEAKSQL, *(self.value(str(a)) for a in cli_args(SERVICES[service]["command"]))]

    def environment(self, service: str, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PEAKSQL_")}
        for key, value in SERVICES[service].get("environment", {}).items():
            env[key] = self.value(str(value))
        return {**env, **overrides}


def _run(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{command} failed:\n{result.stderr}"
    return result.stdout


@pytest.fixture
def topology(tmp_path: Path, postgres_available: bool) -> Iterator[Topology]:
    if not postgres_available:
        pytest.skip("PostgreSQL not reachable (set PEAKSQL_TEST_POSTGRES_URL)")
    suffix = uuid.uuid4().hex[:8]
    database = f"peaksql_deploy_{suffix}"
    admin_user = sa.engine.make_url(POSTGRES_URL).username
    roles = {"peaksql_admin": admin_user, "peaksql_reader": f"peaksql_reader_{suffix}"}
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {database}"))
    try:
        yield Topology(tmp_path, database, roles)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            connection.execute(sa.text(f"DROP ROLE IF EXISTS {roles['peaksql_reader']}"))
        admin.dispose()


def _wait_serving(address: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert process.poll() is None, f"server exited with {process.returncode}"
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"{address} did not become SERVING in {seconds} s")


def _metrics(port: int) -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _ingest(topology: Topology) -> None:
    """The one-shot migration, then an ingest with the admin role into the data volume."""
    out = _run(topology.command("migrate"), topology.environment("migrate"))
    assert "may read the catalog and nothing else" in out
    fasta, bed = write_genome(topology.root)
    ingest_env = topology.environment("ingest")
    _run([*PEAKSQL, "add-assembly", str(fasta), "--name", "tiny", "-q"], ingest_env)
    _run(
        [*PEAKSQL, "add-data", str(bed), "--assembly", "tiny", "--condition", "peaks", "-q"],
        ingest_env,
    )


class Replica:
    """One server process with the server service's command; its log goes to a file."""

    def __init__(self, topology: Topology, k: int) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = topology.root / f"server{k}.log"
        env = topology.environment(
            "server",
            PEAKSQL_HOST="127.0.0.1",
            PEAKSQL_PORT=str(self.port),
            PEAKSQL_METRICS_PORT=str(self.metrics_port),
        )
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                topology.command("server"), env=env, stdout=log, stderr=log
            )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _check_metrics(replica: Replica, resumed: int, reference: list[pb.Batch]) -> None:
    """The survivor's metrics: it sent the reference epoch and the ``resumed`` batches."""
    metrics = _metrics(replica.metrics_port)
    stream_ok = ("method", "/peaksql.v1.PeakSQL/StreamBatches"), ("code", "OK")
    assert metrics[("peaksql_rpcs_total", tuple(sorted(stream_ok)))] == 2
    assert resumed > 0
    assert len(reference) + resumed <= metrics[("peaksql_batches_total", ())]
    assert metrics[("peaksql_batch_bytes_total", ())] >= sum(b.ByteSize() for b in reference)
    assert metrics[("peaksql_plan_compile_seconds_count", ())] >= 1
    assert metrics[("peaksql_errors_total", (("code", "UNAUTHENTICATED"),))] == 1
    assert metrics[("peaksql_active_streams", ())] == 0


def _check_stream_logs(log: Path) -> None:
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    streams = [
        e
        for e in entries
        if e["message"] == "rpc finished" and e.get("method", "").endswith("/StreamBatches")
    ]
    assert len(streams) == 2 and all(e["code"] == "OK" and e["caller"] == "alice" for e in streams)
    assert len({e["request_id"] for e in streams}) == 2


def _crash_mid_epoch(topology: Topology, replicas: list[Replica]) -> None:
    """The second replica's epoch, then one through both with the first killed mid-way."""
    addresses = [r.address for r in replicas]
    spec = DatasetSpec(seq_length=500, stride=1)
    request = pb.StreamRequest(
        spec=spec.to_proto(), batch_size=256, shuffle=True, seed=7, include_coordinates=True
    )
    with Client(addresses[1], token=topology.token) as survivor:
        num_windows = survivor.describe(spec).num_windows
        reference = epoch(survivor, request)
    with Client(addresses[1], token="wrong") as stranger, pytest.raises(Unauthenticated):
        stranger.assemblies()
    with Client(addresses, token=topology.token) as client:
        assert client.current_address == addresses[0]
        sources: list[str] = []
        got = epoch(client, request, kill_after=20, victim=replicas[0].process, sources=sources)
        assert client.current_address == addresses[1]  # it did fail over
    # no gap, no duplicate: every window of the epoch exactly once...
    windows = np.concatenate([np.frombuffer(b.coordinates.window_index, "<i8") for b in got])
    assert len(windows) == num_windows
    assert np.array_equal(np.sort(windows), np.arange(num_windows))
    # ...and byte for byte what the untroubled replica served
    assert len(got) == len(reference) == -(-num_windows // 256)
    for mine, theirs in zip(got, reference, strict=True):
        assert mine.SerializeToString() == theirs.SerializeToString()
    _check_metrics(replicas[1], sources.count(addresses[1]), reference)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_replicas_serve_one_epoch_across_a_crash(topology: Topology) -> None:
    _ingest(topology)
    replicas: list[Replica] = []
    try:
        replicas += [Replica(topology, 0), Replica(topology, 1)]
        for replica in replicas:
            _wait_serving(replica.address, replica.process)
        # the compose health check command, as Docker runs it inside each container
        for replica in replicas:
            probe = ["peaksql", *SERVICES["server"]["healthcheck"]["test"][2:]]
            env = topology.environment("server", PEAKSQL_PORT=str(replica.port))
            assert "SERVING" in _run([*PEAKSQL, *probe[1:]], env)
        _crash_mid_epoch(topology, replicas)
        replicas[1].process.send_signal(signal.SIGTERM)  # graceful: drains and exits 0
        assert replicas[1].process.wait(30) == 0
    finally:
        for replica in replicas:
            replica.kill()
    _check_stream_logs(replicas[1].log)
