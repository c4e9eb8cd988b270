"""Remote figures: a server process and client processes streaming over 127.0.0.1.

    ServerProcess (serve_main: peaksql.server.rpc.serve.serve, port 0)  <-gRPC-  client_job × N

A client job either iterates ``peaksql.Dataset`` (stream + decode to float32 one-hot in the
prefetch thread: what a training loop gets) or reads raw ``Batch`` messages (transport only).
Module level imports only the client side, so spawned clients start light.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from tests.benchmarks.common import Row, Shape, Stopwatch
from tests.benchmarks.data import Catalog

START_TIMEOUT_S = 120.0


class ServerProcess:
    """A PeakSQL server in its own process on a free port (``serve_main``); SIGTERM stops it."""

    def __init__(self, catalog: Catalog, workers: int = 8) -> None:
        began = time.perf_counter()
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.benchmarks.bench_remote",
                "--workers",
                str(workers),
                "--db",
                catalog.db,
                "--data-dir",
                str(catalog.data_dir),
            ],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.address = self._wait_for_address()
        self.start_seconds = time.perf_counter() - began
        self.process = psutil.Process(self.popen.pid)

    def _wait_for_address(self) -> str:
        assert self.popen.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.popen.stdout.readline()
            if not line and self.popen.poll() is not None:
                raise RuntimeError(f"the server exited with {self.popen.returncode}")
            if line.startswith("peaksql serving on "):
                return line.split()[-1]
        self.stop()
        raise RuntimeError(f"the server did not start within {START_TIMEOUT_S} s")

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


# -- client processes ---------------------------------------------------------------------


def client_job(job: dict[str, Any], barrier: Any, results: Any) -> None:
    """One client process: connect, wait at the barrier, stream for ``seconds``, report."""
    import peaksql

    client = peaksql.Client(job["address"])
    client.assemblies()  # the channel is up before the clock starts
    if job.get("warm"):
        _raw(client, job, max_seconds=0.0)
    if barrier is not None:
        barrier.wait()
    if job["mode"] == "first_batches":
        figures = [_decoded(client, job, 0.0) for _ in range(job["repeats"])]
        results.put({**job, "first_batch_s": [f["first_batch_s"] for f in figures]})
    else:
        stream = _raw if job["mode"] == "raw" else _decoded
        results.put({**job, **stream(client, job, job["seconds"])})
    client.close()


def _decoded(client: Any, job: dict[str, Any], max_seconds: float) -> dict[str, float]:
    """Iterate ``Dataset`` (decoded float32 one-hot) across epochs for ``max_seconds``."""
    dataset = client.dataset(
        **job["kwargs"], rank=job.get("rank", 0), world_size=job.get("world_size", 1)
    )
    watch = Stopwatch()
    cpu = time.process_time()
    while watch.first is None or watch.steady_seconds < max_seconds:
        for x, _ in dataset:
            watch.tick(x.shape[0])
            if watch.steady_seconds >= max_seconds:
                break
    return _figures(watch, cpu)


def _raw(client: Any, job: dict[str, Any], max_seconds: float) -> dict[str, float]:
    """Read raw Batch messages (no decode) for ``max_seconds``."""
    from peaksql.v1 import peaksql_pb2 as pb

    kwargs = dict(job["kwargs"])
    spec = client.dataset(**kwargs).spec
    watch = Stopwatch()
    cpu = time.process_time()
    epoch = 0
    while watch.first is None or watch.steady_seconds < max_seconds:
        request = pb.StreamRequest(
            spec=spec.to_proto(),
            batch_size=kwargs["batch_size"],
            shuffle=kwargs["shuffle"],
            seed=kwargs["seed"],
            cursor=pb.Cursor(
                epoch=epoch, rank=job.get("rank", 0), world_size=job.get("world_size", 1)
            ),
        )
        stream = client.stream(request)
        for batch in stream:
            watch.tick(batch.batch_size)
            if watch.steady_seconds >= max_seconds:
                break
        stream.close()
        epoch += 1
    return _figures(watch, cpu)


def _figures(watch: Stopwatch, cpu_began: float) -> dict[str, float]:
    return {
        "windows_per_s": watch.windows_per_second(),
        "first_batch_s": watch.first_seconds,
        "windows": watch.windows,
        "steady_s": watch.steady_seconds,
        "client_cpu_s": time.process_time() - cpu_began,
    }


def run_clients(server: ServerProcess, jobs: list[dict[str, Any]]) -> tuple[list[dict], float]:
    """Run ``jobs`` in parallel client processes, started together; (results, server CPU s)."""
    context = mp.get_context("spawn")
    barrier = context.Barrier(len(jobs) + 1)
    results = context.Queue()
    processes = [
        context.Process(target=client_job, args=(job, barrier, results), daemon=True)
        for job in jobs
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=START_TIMEOUT_S)
    cpu = server.cpu_seconds()
    collected = [results.get(timeout=START_TIMEOUT_S + 60) for _ in jobs]
    server_cpu = server.cpu_seconds() - cpu
    for process in processes:
        process.join(timeout=30)
    return sorted(collected, key=lambda r: r.get("rank", 0)), server_cpu


def _job(server: ServerProcess, shape: Shape, conditions: tuple[str, ...], **extra: Any) -> dict:
    return {
        "address": server.address,
        "kwargs": shape.dataset_kwargs(conditions),
        "mode": "decode",
        **extra,
    }


def single_stream(
    server: ServerProcess,
    shape: Shape,
    conditions: tuple[str, ...],
    seconds: float,
    mode: str,
) -> Row:
    """One client process streaming ``shape`` (spec planned beforehand by a warm-up stream)."""
    [result], server_cpu = run_clients(
        server, [_job(server, shape, conditions, mode=mode, seconds=seconds, warm=True)]
    )
    rate = result["windows_per_s"]
    thousands = result["windows"] / 1000
    return Row(
        "remote",
        "1 client, stream + decode" if mode == "decode" else "1 client, raw messages",
        shape.name,
        {
            "windows_per_s": rate,
            "bases_per_s": rate * shape.seq_length,
            "payload_MB_per_s": shape.payload_bytes(int(rate), len(conditions)) / 1e6,
            "first_batch_s": result["first_batch_s"],
            "server_cpu_ms_per_kwin": 1e3 * server_cpu / thousands,
            "client_cpu_ms_per_kwin": 1e3 * result["client_cpu_s"] / thousands,
            "server_cores": server_cpu / result["steady_s"],
        },
    )


def concurrent_streams(
    server: ServerProcess,
    shape: Shape,
    conditions: tuple[str, ...],
    num_clients: int,
    seconds: float,
) -> Row:
    """``num_clients`` processes, rank r of W each, started together: total and fairness."""
    jobs = [
        _job(server, shape, conditions, seconds=seconds, rank=r, world_size=num_clients)
        for r in range(num_clients)
    ]
    results, server_cpu = run_clients(server, jobs)
    rates = [r["windows_per_s"] for r in results]
    total = sum(rates)
    jain = total**2 / (len(rates) * sum(r * r for r in rates))
    return Row(
        "concurrency",
        f"{num_clients} client{'s' if num_clients > 1 else ''} (ranks of {num_clients})",
        shape.name,
        {
            "windows_per_s": total,
            "per_client_min": min(rates),
            "per_client_max": max(rates),
            "fairness_min_over_max": min(rates) / max(rates),
            "jain_index": jain,
            "server_cpu_ms_per_kwin": 1e3 * server_cpu / (sum(r["windows"] for r in results) / 1e3),
            "server_cores": server_cpu / max(r["steady_s"] for r in results),
        },
    )


def first_batch_times(
    server: ServerProcess, new_plan: Shape, num_intervals: int, repeats: int
) -> list[Row]:
    """Time to first batch (Dataset, decoded) of a never-planned spec, then of new streams of
    it once planned (same client process, a new stream each time)."""
    job = {**_job(server, new_plan, ()), "mode": "first_batches", "repeats": repeats + 1}
    [result], _ = run_clients(server, [job])
    fresh, *planned = result["first_batch_s"]
    return [
        Row(
            "first batch",
            f"new spec, {num_intervals:,} intervals in the catalog",
            new_plan.name,
            {"first_batch_s": fresh},
            "plan compiled on the server for this request",
        ),
        Row(
            "first batch",
            "spec already planned",
            new_plan.name,
            {"first_batch_s": statistics.median(planned), "max_s": max(planned)},
            f"median of {len(planned)} new streams",
        ),
    ]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def serve_main(argv: list[str] | None = None) -> None:
    """Serve a catalog on 127.0.0.1 and a free port until SIGTERM; print the address.

    The benchmark's own entry (not ``peaksql serve``) so that it measures ``serve`` itself
    and keeps working while the command line changes.
    """
    import argparse
    import signal

    from peaksql.server.config import ServerConfig
    from peaksql.server.rpc.serve import serve

    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args(argv)
    config = ServerConfig(db=args.db, data_dir=args.data_dir, port=0, workers=args.workers)
    running = serve(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"peaksql serving on {config.host}:{running.port}", flush=True)
    stop.wait()
    running.shutdown(1.0)


if __name__ == "__main__":
    serve_main()
