"""The lab deployment, exercised for real without containers (no Docker engine here).

``docker/docker-compose.yml`` is parsed and checked against the CLI; then its topology runs
on the local PostgreSQL: the migrate service's command (admin role, creates the read-only
role), an ingest with ``peaksql add-assembly`` / ``add-data``, and two server processes with
exactly the server service's command and environment (only hosts, ports, the data volume,
secret files and role/database names rewritten). A client given both addresses streams a
shuffled epoch, one replica is killed mid-epoch, and the epoch must equal, byte for byte, the
one an untroubled replica serves: no gap, no duplicate. Metrics and JSON logs are read back.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import sqlalchemy as sa
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from peaksql import Client
from peaksql.core.errors import Unauthenticated
from peaksql.core.spec import DatasetSpec
from peaksql.server.cli import SERVE_ENVIRONMENT, build_parser
from peaksql.server.rpc.logs import JsonFormatter, RequestIdFilter
from peaksql.v1 import peaksql_pb2 as pb
from peaksql.v1 import peaksql_pb2_grpc as pb_grpc
from tests.conftest import POSTGRES_URL
from tests.server_fixtures import build_catalog, free_port, start, write_genome

DOCKER_DIR = Path(__file__).resolve().parents[1] / "docker"
COMPOSE = yaml.safe_load((DOCKER_DIR / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PEAKSQL = [sys.executable, "-m", "peaksql.server.cli"]  # what the image's `peaksql` runs
SECRETS = "/run/secrets/"


def _cli_args(command: list[str]) -> list[str]:
    assert command[0] == "peaksql", command
    return command[1:]


# -- the compose file against the CLI ----------------------------------------------------------


def test_compose_services_and_commands_match_the_cli() -> None:
    assert {"postgres", "migrate", "ingest", "server", "client"} <= set(SERVICES)
    parser = build_parser()
    for name in ("migrate", "ingest", "server"):
        parser.parse_args(_cli_args(SERVICES[name]["command"]))  # SystemExit if unknown flag
    server = SERVICES["server"]
    assert server["deploy"]["replicas"] >= 2
    assert "genomes:/data:ro" in server["volumes"]  # replicas cannot write the genome store
    assert server["healthcheck"]["test"][0] == "CMD"
    assert parser.parse_args(_cli_args(server["healthcheck"]["test"][1:])).command == "healthcheck"
    assert "--no-migrate" in server["command"]  # the read-only role could not migrate anyway
    for key in ("migrate", "server"):
        assert SERVICES[key]["depends_on"]  # servers start after the one-shot migration
    assert SERVICES["server"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_compose_environment_is_documented_and_secrets_exist() -> None:
    for name, service in SERVICES.items():
        environment = service.get("environment", {})
        for variable, value in environment.items():
            if variable.startswith("PEAKSQL_") and name == "server":
                assert variable in SERVE_ENVIRONMENT, f"{variable} missing from serve --help"
            if str(value).startswith(SECRETS):
                secret = str(value).removeprefix(SECRETS)
                assert secret in service["secrets"], (name, secret)
                assert secret in COMPOSE["secrets"]
        for arg in service.get("command", []):
            if str(arg).startswith(SECRETS):
                assert str(arg).removeprefix(SECRETS) in service["secrets"]
    # the servers log in as the role the migration creates, with its password
    reader = SERVICES["migrate"]["command"]
    role = reader[reader.index("--reader-role") + 1]
    server_env = SERVICES["server"]["environment"]
    assert sa.engine.make_url(server_env["PEAKSQL_DB"]).username == role
    password = reader[reader.index("--reader-password-file") + 1]
    assert server_env["PEAKSQL_DB_PASSWORD_FILE"] == password
    # the example client reaches the servers by service name, on their port
    address = SERVICES["client"]["command"][SERVICES["client"]["command"].index("--address") + 1]
    assert address == f"dns:///server:{server_env['PEAKSQL_PORT']}"


def test_dockerfile_runs_the_server_as_a_non_root_user_with_a_grpc_healthcheck() -> None:
    lines = [line.strip() for line in (DOCKER_DIR / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    healthcheck = next(i for i, line in enumerate(lines) if line.startswith("HEALTHCHECK"))
    probe = next(line for line in lines[healthcheck:] if line.startswith("CMD"))
    assert (
        json.loads(probe.removeprefix("CMD").strip())
        == SERVICES["server"]["healthcheck"]["test"][1:]
    )
    cmd = json.loads(next(line for line in reversed(lines) if line.startswith("CMD "))[4:])
    assert build_parser().parse_args(_cli_args(cmd)).command == "serve"


# -- request ids, JSON logs and metrics, in process ---------------------------------------------


def test_request_id_reaches_the_log_and_the_client(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db = f"sqlite:///{tmp_path / 'catalog.db'}"
    build_catalog(db, data_dir)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(handler.format(record))  # type: ignore[method-assign]
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("peaksql.server.rpc")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    running = start(db, data_dir)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = pb_grpc.PeakSQLStub(channel)
            _, call = stub.ListAssemblies.with_call(
                pb.ListAssembliesRequest(), metadata=(("x-request-id", "lab-42"),)
            )
            assert ("x-request-id", "lab-42") in tuple(call.initial_metadata())
            with pytest.raises(grpc.RpcError):
                stub.Describe(
                    pb.DescribeRequest(spec=DatasetSpec(10, where="colour = 1").to_proto())
                )
    finally:
        running.shutdown(0)
        logger.removeHandler(handler)
    entries = [json.loads(line) for line in lines]
    listed = next(e for e in entries if e["method"].endswith("/ListAssemblies"))
    assert listed["request_id"] == "lab-42" and listed["code"] == "OK"
    failed = next(e for e in entries if e["method"].endswith("/Describe"))
    assert failed["code"] == "INVALID_ARGUMENT" and "colour" in failed["details"]
    assert failed["request_id"] and failed["request_id"] != "lab-42"
    errors = running.metrics.registry.get_sample_value(
        "peaksql_errors_total", {"code": "INVALID_ARGUMENT"}
    )
    assert errors == 1


# -- client failover, in process -----------------------------------------------------------------


@pytest.fixture
def two_replicas(tmp_path: Path) -> Iterator[list]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db = f"sqlite:///{tmp_path / 'catalog.db'}"
    build_catalog(db, data_dir)
    replicas = [start(db, data_dir), start(db, data_dir)]
    yield replicas
    for running in replicas:
        running.shutdown(0)


def test_failover_keeps_max_batches_and_skips_a_dead_replica(two_replicas: list) -> None:
    first, second = (f"127.0.0.1:{r.port}" for r in two_replicas)
    # 1 MB batches: 30 of them are far more than the server may send ahead of a slow reader
    request = pb.StreamRequest(
        spec=DatasetSpec(seq_length=2000, stride=1).to_proto(),
        batch_size=1024,
        shuffle=True,
        seed=3,
        max_batches=30,
        cursor=pb.Cursor(epoch=2, rank=0, world_size=1, delivered=1024),
    )
    with Client(second) as c:
        reference = list(c.stream(request))
    assert len(reference) == 30
    with Client([first, second]) as c:
        got = _epoch(c, request, kill_after=5, victim=two_replicas[0])
        assert c.current_address == second
        # a call after the failure starts on the live replica, and a list with a dead first
        # address still works for unary calls
        assert c.assemblies()[0].name == "tiny"
    assert [b.SerializeToString() for b in got] == [b.SerializeToString() for b in reference]
    with Client([first, second]) as c:
        assert c.conditions()[0].name == "peaks"
        assert len(list(c.stream(request))) == 30


# -- the topology, for real ---------------------------------------------------------------------


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
        return [*PEAKSQL, *(self.value(str(a)) for a in _cli_args(SERVICES[service]["command"]))]

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


def _epoch(
    client: Client, request: pb.StreamRequest, kill_after: int = 0, victim: object = None
) -> list[pb.Batch]:
    """Every batch of one stream; after ``kill_after`` batches the ``victim`` server dies
    (a process: SIGKILL; an in-process server: stopped at once)."""
    batches = []
    for batch in client.stream(request):
        batches.append(batch)
        if victim is not None and len(batches) == kill_after:
            time.sleep(0.3)  # let the server fill every buffer it may, then kill it
            if isinstance(victim, subprocess.Popen):
                victim.send_signal(signal.SIGKILL)
                victim.wait(10)
            else:
                victim.shutdown(0)  # type: ignore[attr-defined]
    return batches


def _metrics(port: int) -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.postgres
@pytest.mark.slow
def test_two_replicas_serve_one_epoch_across_a_crash(topology: Topology) -> None:
    # the one-shot migration with the admin role creates the schema and the read-only role
    out = _run(topology.command("migrate"), topology.environment("migrate"))
    assert "may read the catalog and nothing else" in out
    # ingest with the admin role (the ingest service's environment), into the data volume
    fasta, bed = write_genome(topology.root)
    ingest_env = topology.environment("ingest")
    _run([*PEAKSQL, "add-assembly", str(fasta), "--name", "tiny", "-q"], ingest_env)
    _run(
        [*PEAKSQL, "add-data", str(bed), "--assembly", "tiny", "--condition", "peaks", "-q"],
        ingest_env,
    )

    servers, ports, metrics_ports, logs = [], [], [], []
    for k in range(2):
        ports.append(free_port())
        metrics_ports.append(free_port())
        env = topology.environment(
            "server",
            PEAKSQL_HOST="127.0.0.1",
            PEAKSQL_PORT=str(ports[k]),
            PEAKSQL_METRICS_PORT=str(metrics_ports[k]),
        )
        logs.append(topology.root / f"server{k}.log")
        with logs[k].open("w") as log:
            servers.append(
                subprocess.Popen(topology.command("server"), env=env, stdout=log, stderr=log)
            )
    try:
        addresses = [f"127.0.0.1:{p}" for p in ports]
        for address, process in zip(addresses, servers, strict=True):
            _wait_serving(address, process)
        # the compose health check command, as Docker runs it inside each container
        for port in ports:
            probe = ["peaksql", *SERVICES["server"]["healthcheck"]["test"][2:]]
            env = topology.environment("server", PEAKSQL_PORT=str(port))
            assert "SERVING" in _run([*PEAKSQL, *probe[1:]], env)

        spec = DatasetSpec(seq_length=500, stride=1)
        request = pb.StreamRequest(
            spec=spec.to_proto(), batch_size=256, shuffle=True, seed=7, include_coordinates=True
        )
        with Client(addresses[1], token=topology.token) as survivor:
            num_windows = survivor.describe(spec).num_windows
            reference = _epoch(survivor, request)
        with Client(addresses[1], token="wrong") as stranger, pytest.raises(Unauthenticated):
            stranger.assemblies()

        with Client(addresses, token=topology.token) as client:
            assert client.current_address == addresses[0]
            got = _epoch(client, request, kill_after=20, victim=servers[0])
            assert client.current_address == addresses[1]  # it did fail over

        # no gap, no duplicate: every window of the epoch exactly once...
        windows = np.concatenate([np.frombuffer(b.coordinates.window_index, "<i8") for b in got])
        assert len(windows) == num_windows
        assert np.array_equal(np.sort(windows), np.arange(num_windows))
        # ...and byte for byte what the untroubled replica served
        assert len(got) == len(reference) == -(-num_windows // 256)
        for mine, theirs in zip(got, reference, strict=True):
            assert mine.SerializeToString() == theirs.SerializeToString()

        metrics = _metrics(metrics_ports[1])
        stream_ok = ("method", "/peaksql.v1.PeakSQL/StreamBatches"), ("code", "OK")
        assert metrics[("peaksql_rpcs_total", tuple(sorted(stream_ok)))] == 2
        resumed = len(got) - 20
        assert len(reference) + resumed <= metrics[("peaksql_batches_total", ())]
        assert metrics[("peaksql_batch_bytes_total", ())] >= sum(b.ByteSize() for b in reference)
        assert metrics[("peaksql_plan_compile_seconds_count", ())] >= 1
        assert metrics[("peaksql_errors_total", (("code", "UNAUTHENTICATED"),))] == 1
        assert metrics[("peaksql_active_streams", ())] == 0

        servers[1].send_signal(signal.SIGTERM)  # graceful: drains and exits 0
        assert servers[1].wait(30) == 0
    finally:
        for process in servers:
            if process.poll() is None:
                process.kill()
                process.wait(10)

    entries = [
        json.loads(line) for line in logs[1].read_text().splitlines() if line.startswith("{")
    ]
    streams = [
        e
        for e in entries
        if e["message"] == "rpc finished" and e.get("method", "").endswith("/StreamBatches")
    ]
    assert len(streams) == 2 and all(e["code"] == "OK" and e["caller"] == "alice" for e in streams)
    assert len({e["request_id"] for e in streams}) == 2
