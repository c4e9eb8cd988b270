"""The server reuses message-sized buffers: a large batch message costs no page faults."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import peaksql
from peaksql.v1 import peaksql_pb2 as pb
from tests.servers import ServerProcess, build_catalog

#: Messages streamed, and windows of 1 kbp in each (1 MB of packed bases).
MESSAGES, WINDOWS = 40, 2048


def _minor_faults(pid: int) -> int:
    """Minor page faults of process ``pid`` so far (field 10 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[7])


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
