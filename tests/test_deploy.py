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
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa

from peaksql import Client
from peaksql.core.spec import DatasetSpec
from peaksql.server.cli import SERVE_ENVIRONMENT, build_parser
from peaksql.server.rpc.logs import JsonFormatter, RequestIdFilter
from peaksql.v1 import peaksql_pb2 as pb
from peaksql.v1 import peaksql_pb2_grpc as pb_grpc
from tests.deploy_helpers import COMPOSE, DOCKER_DIR, SECRETS, SERVICES, cli_args, epoch
from tests.server_fixtures import build_catalog, start

# -- the compose file against the CLI ----------------------------------------------------------


def test_compose_services_and_commands_match_the_cli() -> None:
    assert {"postgres", "migrate", "ingest", "server", "client"} <= set(SERVICES)
    parser = build_parser()
    for name in ("migrate", "ingest", "server"):
        parser.parse_args(cli_args(SERVICES[name]["command"]))  # SystemExit if unknown flag
    server = SERVICES["server"]
    assert server["deploy"]["replicas"] >= 2
    assert "genomes:/data:ro" in server["volumes"]  # replicas cannot write the genome store
    assert server["healthcheck"]["test"][0] == "CMD"
    assert parser.parse_args(cli_args(server["healthcheck"]["test"][1:])).command == "healthcheck"
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
    assert build_parser().parse_args(cli_args(cmd)).command == "serve"


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
        got = epoch(c, request, kill_after=5, victim=two_replicas[0])
        assert c.current_address == second
        # a call after the failure starts on the live replica, and a list with a dead first
        # address still works for unary calls
        assert c.assemblies()[0].name == "tiny"
    assert [b.SerializeToString() for b in got] == [b.SerializeToString() for b in reference]
    with Client([first, second]) as c:
        assert c.conditions()[0].name == "peaks"
        assert len(list(c.stream(request))) == 30
