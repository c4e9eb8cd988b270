"""Shared by the deployment tests: the compose file, the CLI as the image runs it, epochs."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from peaksql import Client
from peaksql.v1 import peaksql_pb2 as pb

DOCKER_DIR = Path(__file__).resolve().parents[1] / "docker"
COMPOSE = yaml.safe_load((DOCKER_DIR / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PEAKSQL = [sys.executable, "-m", "peaksql.server.cli"]  # what the image's `peaksql` runs
SECRETS = "/run/secrets/"


def cli_args(command: list[str]) -> list[str]:
    assert command[0] == "peaksql", command
    return command[1:]


def epoch(
    client: Client,
    request: pb.StreamRequest,
    kill_after: int = 0,
    victim: object = None,
    sources: list[str] | None = None,
) -> list[pb.Batch]:
    """Every batch of one stream; after ``kill_after`` batches the ``victim`` server dies
    (a process: SIGKILL; an in-process server: stopped at once). ``sources`` gets the
    replica each batch came from: batches the victim had buffered still arrive after it
    died, from it."""
    batches = []
    for batch in client.stream(request):
        batches.append(batch)
        if sources is not None:
            sources.append(client.current_address)
        if victim is not None and len(batches) == kill_after:
            time.sleep(0.3)  # let the server fill every buffer it may, then kill it
            if isinstance(victim, subprocess.Popen):
                victim.send_signal(signal.SIGKILL)
                victim.wait(10)
            else:
                victim.shutdown(0)  # type: ignore[attr-defined]
    return batches
