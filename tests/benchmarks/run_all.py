"""Run every PeakSQL benchmark in one go and print the figures (never asserts anything).

    python -m tests.benchmarks.run_all            # full: 64 Mbp genome, 1M intervals (~5 min)
    python -m tests.benchmarks.run_all --quick    # small genome, 1 s per figure (~1 min)

catalog (cached) -> in-process limit, breakdown, local loader, decode
                 -> server process + client processes: shapes, concurrency, first batch, memory
                 -> table (text + markdown file)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from tests.benchmarks import report
from tests.benchmarks.bench_engine import (
    Engine,
    decode_speed,
    engine_breakdown,
    engine_limit,
    local_loader,
    profile,
    servicer_limit,
    zero_copy,
)
from tests.benchmarks.bench_remote import (
    ServerProcess,
    concurrent_streams,
    first_batch_times,
    load_average,
    run_clients,
    single_stream,
)
from tests.benchmarks.common import HEADLINE, NEW_PLAN, PER_MESSAGE, SHAPES, Row, best_row
from tests.benchmarks.data import FULL, QUICK, Catalog, ensure_catalog
from tests.benchmarks.memory import MemorySampler, genome_mapping

CLIENT_COUNTS = (1, 2, 4)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small genome, short figures")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path(os.environ.get("PEAKSQL_BENCH_DIR", "/tmp/peaksql-bench")),
        help="cache of generated catalogs and results (env PEAKSQL_BENCH_DIR)",
    )
    parser.add_argument("--seconds", type=float, help="seconds per throughput figure")
    parser.add_argument(
        "--repeats", type=int, help="throughput figures are the best of this many runs"
    )
    parser.add_argument("--workers", type=int, default=8, help="server threads")
    parser.add_argument("--profile", action="store_true", help="print cProfile of hot paths")
    return parser.parse_args(argv)


def in_process(catalog: Catalog, seconds: float, repeats: int, show_profile: bool) -> list[Row]:
    """Engine limit, its breakdown, the local loader and client decode, per shape."""
    engine = Engine(catalog)
    rows: list[Row] = []
    try:
        for shape in SHAPES:
            began = time.perf_counter()
            plan = engine.plan(shape.spec(catalog.peak_conditions))
            print(
                f"  {shape.name}: {plan.num_windows:,} windows, planned in "
                f"{time.perf_counter() - began:.2f} s",
                flush=True,
            )
            encoded = best_row(
                lambda p=plan, s=shape: engine_limit(p, s, seconds / 2, encode=True), repeats
            )
            rows += [
                best_row(lambda p=plan, s=shape: engine_limit(p, s, seconds), repeats),
                encoded,
                engine_breakdown(plan, shape, 50 if shape.seq_length < 10_000 else 10),
                local_loader(catalog, plan, shape, seconds / 2),
                decode_speed(plan, shape, seconds / 4),
            ]
            if shape in (HEADLINE, SHAPES[-1]):
                servicer = best_row(lambda s=shape: servicer_limit(engine, s, seconds / 2), repeats)
                rows += [zero_copy(plan, shape), servicer]
            if show_profile and shape is HEADLINE:
                print(profile(lambda p=plan, s=shape: engine_limit(p, s, 1.0)))
        plan = engine.plan(PER_MESSAGE.spec(catalog.peak_conditions))
        rows.append(best_row(lambda: engine_limit(plan, PER_MESSAGE, seconds / 2), repeats))
        rows.append(best_row(lambda: servicer_limit(engine, PER_MESSAGE, seconds / 2), repeats))
        spec = NEW_PLAN.spec(())
        began = time.perf_counter()
        engine.plan(spec)
        rows.append(
            Row(
                "first batch",
                f"in-process plan compile, {catalog.scale.num_intervals:,} intervals",
                NEW_PLAN.name,
                {"plan_s": time.perf_counter() - began},
                "compile_plan alone",
            )
        )
        if show_profile:
            print(profile(lambda: engine.plan(spec), top=20))
    finally:
        engine.close()
    return rows


def remote(catalog: Catalog, seconds: float, repeats: int, workers: int) -> list[Row]:
    """A server process and client processes: shapes, concurrency, first batch, memory."""
    server = ServerProcess(catalog, workers=workers)
    sampler = MemorySampler(server.process.pid)
    sampler.start()
    rows: list[Row] = []
    try:
        conditions = catalog.peak_conditions
        cold_job = {
            "address": server.address,
            "kwargs": HEADLINE.dataset_kwargs(conditions),
            "mode": "raw",
            "seconds": 0.0,
        }
        [cold], _ = run_clients(server, [cold_job])
        rows.append(
            Row(
                "first batch",
                "fresh server process, first request",
                HEADLINE.name,
                {"first_batch_s": cold["first_batch_s"], "server_start_s": server.start_seconds},
                "numba cache load + plan + batch",
            )
        )
        sampler.mark("streaming")
        for shape in SHAPES:
            for mode in ("decode", "raw"):
                row = best_row(
                    lambda s=shape, m=mode: single_stream(server, s, conditions, seconds, m),
                    repeats,
                )
                rate = row.values["windows_per_s"]
                print(f"  {row.name}, {shape.name}: {rate:,.0f} windows/s", flush=True)
                rows.append(row)
        rows.append(
            best_row(
                lambda: single_stream(server, PER_MESSAGE, conditions, seconds / 2, "raw"),
                repeats,
            )
        )
        sampler.mark("steady")
        for count in CLIENT_COUNTS:
            rows.append(
                best_row(
                    lambda n=count: concurrent_streams(server, HEADLINE, conditions, n, seconds),
                    repeats,
                )
            )
        sampler.mark("steady end")
        rows += first_batch_times(server, NEW_PLAN, catalog.scale.num_intervals, repeats=5)
        sampler.mark("end")
        genome = catalog.genome_bytes
        new_plan = f"RSS, new plan over {catalog.scale.num_intervals:,} intervals"
        rows += [
            sampler.row("RSS while streaming (shapes planned)", "streaming", "steady end", genome),
            sampler.row("RSS, planned specs streaming", "steady", "steady end", genome),
            sampler.row(new_plan, "steady end", "end", genome),
            genome_mapping(server.process.pid, catalog.store_file),
        ]
    finally:
        sampler.stop()
        server.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scale = QUICK if args.quick else FULL
    seconds = args.seconds or (1.0 if args.quick else 4.0)
    repeats = args.repeats or (1 if args.quick else 3)
    began = time.perf_counter()
    catalog = ensure_catalog(args.work_dir, scale)
    load_before = load_average()
    header = (
        f"PeakSQL benchmarks ({scale.name}): genome {scale.genome_length:,} bp "
        f"(store file {catalog.genome_bytes / 1e6:.0f} MB), {scale.num_intervals:,} intervals, "
        f"{len(catalog.peak_conditions)} label conditions; {os.cpu_count()} CPUs; "
        f"{seconds:g} s per figure, best of {repeats}"
    )
    print(header, flush=True)
    print("in-process:", flush=True)
    rows = in_process(catalog, seconds, repeats, args.profile)
    print("remote:", flush=True)
    rows += remote(catalog, seconds, repeats, args.workers)
    load = f"load average (1/5/15 min) before: {load_before}, after: {load_average()}"
    elapsed = f"benchmarks ran in {time.perf_counter() - began:.0f} s"
    print("\n" + "\n".join(report.details(rows)))
    print(f"\n{header}\n{load}; {elapsed}\n")
    print(report.text_table(rows))
    markdown = args.work_dir / f"results-{scale.name}.md"
    markdown.write_text(f"{header}\n\n{load}\n\n{report.markdown_table(rows)}\n")
    (args.work_dir / f"results-{scale.name}.json").write_text(
        json.dumps([asdict(r) for r in rows], indent=1)
    )
    print(f"\nmarkdown table: {markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
