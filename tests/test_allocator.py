"""Server and client reuse message-sized buffers: a large batch costs no page faults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import peaksql
from peaksql.core.allocator import user_sets_thresholds
from peaksql.v1 import peaksql_pb2 as pb
from tests.servers import ServerProcess, build_catalog

#: Messages streamed, and windows of 1 kbp in each (1 MB of packed bases).
MESSAGES, WINDOWS = 40, 2048


def _minor_faults(pid: int) -> int:
    """Minor page faults of process ``pid`` so far (field 10 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[7])


#: A training process: decoded float32 batches of 256 x 1,000 x 4 (4 MB each), then its own
#: minor page faults per window over three epochs after a warm one.
CLIENT = """
import resource, sys
import peaksql
with peaksql.Client(sys.argv[1]) as client:
    data = client.dataset(seq_length=1000, stride=1, batch_size=256, shuffle=True)
    for _ in data:
        pass
    before, windows = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, 0
    for _ in range(3):
        windows += sum(x.shape[0] for x, _ in data)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / windows)
"""


def _stream(client: peaksql.Client, spec: pb.DatasetSpec, epochs: int) -> int:
    messages = 0
    for epoch in range(epochs):
        request = pb.StreamRequest(
            spec=spec, batch_size=WINDOWS, cursor=pb.Cursor(epoch=epoch, world_size=1)
        )
        messages += sum(1 for _ in client.stream(request))
    return messages


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt, /proc")
def test_large_messages_do_not_fault_in_fresh_pages(tmp_path: Path) -> None:
    """Without ``allocator.reuse_message_buffers`` the server mapped fresh pages for each
    1 MB message (165-185 faults a message measured here); with it, 20-30."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    build_catalog(url, tmp_path / "data")
    with (
        ServerProcess.start(url, tmp_path / "data") as server,
        peaksql.Client(server.address) as client,
    ):
        spec = client.dataset(seq_length=1000, stride=1, batch_size=WINDOWS).spec.to_proto()
        _stream(client, spec, 3)  # warm: plan, pools, first buffers
        before = _minor_faults(server.pid)
        messages = _stream(client, spec, MESSAGES // 3)
        per_message = (_minor_faults(server.pid) - before) / messages
    assert messages >= MESSAGES // 2
    assert per_message < 80, f"{per_message:.0f} page faults per 1 MB message"


def _client_faults_per_window(address: str, **environ: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, address],
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt, /proc")
def test_a_streaming_client_reuses_decoded_buffers(tmp_path: Path) -> None:
    """A ``Dataset`` applies the thresholds to its process when it streams: decoded 4 MB
    batches then cost under a page fault per 100 windows (0.01-0.02 measured), where glibc
    with fixed default thresholds (what a user's own ``MALLOC_MMAP_THRESHOLD_`` keeps) maps
    each batch afresh, one fault per 4 KB page (about 4 a window)."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    build_catalog(url, tmp_path / "data")
    with ServerProcess.start(url, tmp_path / "data") as server:
        reused = _client_faults_per_window(server.address)
        kept = _client_faults_per_window(server.address, MALLOC_MMAP_THRESHOLD_="131072")
    assert kept > 4.0, f"the user's own threshold was overridden ({kept:.2f} faults/window)"
    assert reused < kept / 4, f"{reused:.2f} page faults per window, {kept:.2f} without reuse"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"MALLOC_TRIM_THRESHOLD_": "131072"}, True),
        ({"MALLOC_MMAP_THRESHOLD_": "65536"}, True),
        ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}, True),
        ({"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"}, False),
    ],
)
def test_thresholds_the_user_set_are_kept(environ: dict[str, str], expected: bool) -> None:
    assert user_sets_thresholds(environ) is expected
