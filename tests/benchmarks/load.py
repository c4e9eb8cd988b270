"""Load: many concurrent clients on one server, some reading slowly, while health is probed.

    python -m tests.benchmarks.load                 # 8, 32 and 128 clients, 30 s each
    python -m tests.benchmarks.load --seconds 10 --clients 8 32

A ``peaksql serve`` subprocess serves the bundled example (2 Mbp, five BED files) from a
fresh SQLite catalog. Each level starts its clients as threads spread over a few processes
(one ``peaksql.Client`` and channel each), with mixed specs (tiling, random and
around-interval windows; 500 to 2000 bp; batches of 32 to 256) and every fourth client
reading slowly (50 ms a message). Meanwhile the main process checks health every 50 ms.
Printed per level: total windows/s, per-client min and max bytes/s (fairness is by bytes),
health latency p50/p99/max, errors by code, and the server's resident memory before and
after. Nothing asserts: this prints figures. Only 127.0.0.1; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

#: (seq_length, sampling, batch_size) of the client specs, used in turn.
SPECS = (
    (1000, {"stride": 500}, 128),
    (500, {"random": 20_000}, 256),
    (2000, {"around_intervals": True, "max_jitter": 50}, 32),
    (1000, {"stride": 50}, 64),
)
SLOW_EVERY = 4  # every fourth client reads one message per SLOW_SECONDS
SLOW_SECONDS = 0.05
THREADS_PER_PROCESS = 32


def _request(index: int) -> Any:
    from peaksql.core.spec import DatasetSpec
    from peaksql.v1 import peaksql_pb2 as pb

    seq_length, sampling, batch_size = SPECS[index % len(SPECS)]
    spec = DatasetSpec(seq_length=seq_length, seed=index % 3, **sampling)  # type: ignore[arg-type]
    return pb.StreamRequest(spec=spec.to_proto(), batch_size=batch_size, shuffle=True, seed=index)


def _client(address: str, index: int, until: float, out: list[dict[str, Any]]) -> None:
    """One client: stream epochs until ``until``; count windows, bytes and errors."""
    from peaksql import Client
    from peaksql.core.errors import PeakSQLError

    windows = num_bytes = 0
    errors: Counter[str] = Counter()
    slow = index % SLOW_EVERY == SLOW_EVERY - 1
    began = time.monotonic()
    with Client(address, message_timeout=30.0) as client:
        while time.monotonic() < until:
            try:
                for message in client.stream(_request(index)):
                    windows += message.batch_size
                    num_bytes += message.ByteSize()
                    if slow:
                        time.sleep(SLOW_SECONDS)
                    if time.monotonic() >= until:
                        break
            except PeakSQLError as error:
                errors[error.code.name] += 1
                time.sleep(0.2)
    seconds = time.monotonic() - began
    out.append({"windows": windows, "bytes": num_bytes, "seconds": seconds, "errors": errors})


def _process(address: str, indices: list[int], until: float, results: Any) -> None:
    """A client process: one thread per client index; puts the list of their figures."""
    out: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=_client, args=(address, i, until, out), daemon=True)
        for i in indices
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(1.0, until - time.monotonic() + 60))
    results.put(out)


def _health(address: str, until: float) -> list[float]:
    """Health check latencies (seconds; a failure counts as 5 s) until ``until``."""
    took = []
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < until:
            began = time.perf_counter()
            try:
                stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                took.append(time.perf_counter() - began)
            except grpc.RpcError:
                took.append(5.0)
            time.sleep(0.05)
    return took


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def run_level(address: str, pid: int, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` concurrent clients for ``seconds``; the level's figures."""
    context = mp.get_context("spawn")
    results = context.Queue()
    rss_before = _rss(pid)
    until = time.monotonic() + seconds + 3.0  # the processes need a moment to start
    groups = [
        list(range(begin, min(begin + THREADS_PER_PROCESS, clients)))
        for begin in range(0, clients, THREADS_PER_PROCESS)
    ]
    processes = [
        context.Process(target=_process, args=(address, group, until, results)) for group in groups
    ]
    for process in processes:
        process.start()
    latencies = _health(address, until)
    figures = [item for _ in processes for item in results.get(timeout=seconds + 120)]
    for process in processes:
        process.join(30)
    rates = [f["bytes"] / f["seconds"] for f in figures]
    errors: Counter[str] = Counter()
    for f in figures:
        errors.update(f["errors"])
    return {
        "clients": clients,
        "windows_per_s": sum(f["windows"] for f in figures) / seconds,
        "min_bytes_per_s": min(rates),
        "max_bytes_per_s": max(rates),
        "health_ms": np.percentile(np.array(latencies) * 1000, [50, 99, 100]).tolist(),
        "health_checks": len(latencies),
        "errors": dict(errors),
        "rss_before": rss_before,
        "rss_after": _rss(pid),
    }


def _print(level: dict[str, Any]) -> None:
    p50, p99, worst = level["health_ms"]
    print(
        f"{level['clients']:>4} clients  {level['windows_per_s']:>10,.0f} windows/s  "
        f"per client {level['min_bytes_per_s'] / 1e6:6.2f}-{level['max_bytes_per_s'] / 1e6:6.2f}"
        f" MB/s  health p50 {p50:5.1f} ms p99 {p99:6.1f} ms max {worst:6.1f} ms "
        f"({level['health_checks']} checks)  errors {level['errors'] or 0}  "
        f"server RSS {level['rss_before'] / 2**20:,.0f} -> {level['rss_after'] / 2**20:,.0f} MiB",
        flush=True,
    )


def _catalog(root: Path) -> tuple[str, Path]:
    from peaksql.server.catalog.database import open_database
    from peaksql.server.ingest.example import build_example

    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{root / 'catalog.db'}"
    engine = open_database(db)
    build_example(engine, data_dir, progress=False)
    engine.dispose()
    return db, data_dir


def main(argv: list[str] | None = None) -> None:
    from tests.servers import ServerProcess

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds per level")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--workers", type=int, default=8, help="the server's batch threads")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="peaksql-load-") as folder:
        db, data_dir = _catalog(Path(folder))
        extra = ["--workers", str(args.workers), "--max-streams-per-token", "1024"]
        with ServerProcess.start(db, data_dir, extra=extra) as server:
            print(
                f"server {server.address} (pid {server.pid}, {args.workers} batch threads), "
                f"{args.seconds:g} s per level, every {SLOW_EVERY}th client slow",
                flush=True,
            )
            for clients in args.clients:
                _print(run_level(server.address, server.pid, clients, args.seconds))


if __name__ == "__main__":
    main()
