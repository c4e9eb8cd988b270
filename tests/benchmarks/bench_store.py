"""Genome-scale benchmark of the interval store (issue 10): hg38-sized synthetic genome (24
chromosomes with hg38's lengths), 500 conditions x 20,000 narrowPeaks, SQLite.

    python -m tests.benchmarks.bench_store [--work-dir DIR] [--conditions 500] [--peaks 20000]
        [--backends sqlite,postgres] [--remote] [--baseline-python /path/to/old/venv/python]

Prints: add-data of every file (s), new plans (s, peak RSS), in-process batches/s with 8 and
with all label columns (1 kbp windows, batch 128, shuffled). Generated data is deleted at
the end unless --keep.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.interval_store import IntervalStore
from peaksql.server.catalog.schema import assemblies, chromosomes
from peaksql.server.engine.batches import iter_batches
from peaksql.server.engine.order import Cursor
from peaksql.server.engine.plan import compile_plan
from peaksql.server.ingest.intervals import add_data
from tests.benchmarks.bench_store_remote import Server
from tests.benchmarks.genome import HG38, NAMES


def _rss_mb() -> str:
    """Private (anonymous) memory now, and the peak of all resident memory (file pages of the
    genome and store included)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    anon = int(status["RssAnon"].split()[0]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return f"private {anon:.0f} MB (peak resident incl. file pages {peak:.0f} MB)"


def write_genome(path: Path) -> Path:
    """The store file (a repeated random 1 MiB block), without a FASTA."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = np.random.default_rng(1).choice(np.array([8, 4, 2, 1], np.uint8), 1 << 20)
    total = sum(HG38)
    with open(path, "wb") as handle:
        for begin in range(0, total, block.size):
            handle.write(block[: min(block.size, total - begin)].tobytes())
    return path


def add_genome(engine: sa.Engine, data_dir: Path, genome: Path) -> None:
    """The genome file (hard-linked into ``data_dir``) and its assembly and chromosome rows."""
    (data_dir / "genomes").mkdir(parents=True, exist_ok=True)
    os.link(genome, data_dir / "genomes" / genome.name)
    with engine.begin() as connection:
        assembly_id = connection.execute(
            assemblies.insert().values(
                name="hg38sim",
                species="human",
                length=sum(HG38),
                store_file=f"genomes/{genome.name}",
            )
        ).inserted_primary_key[0]
        offsets = np.concatenate([[0], np.cumsum(HG38)[:-1]])
        connection.execute(
            chromosomes.insert(),
            [
                {"assembly_id": assembly_id, "name": n, "length": L, "offset": int(o)}
                for n, L, o in zip(NAMES, HG38, offsets, strict=True)
            ],
        )


def write_peaks(folder: Path, conditions: int, peaks: int) -> list[Path]:
    rng = np.random.default_rng(2)
    weights = np.array(HG38, dtype=np.float64) / sum(HG38)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for c in range(conditions):
        chrom = np.sort(rng.choice(len(HG38), peaks, p=weights))
        length = rng.integers(150, 600, peaks)
        start = (rng.random(peaks) * (np.array(HG38)[chrom] - 700)).astype(np.int64)
        p_value = np.round(rng.exponential(15, peaks), 2)
        summit = rng.integers(0, length)
        lines = "\n".join(
            f"{NAMES[k]}\t{s}\t{s + n}\tpeak_{i}\t{int(p * 10) % 1000}\t.\t"
            f"{p / 3:.2f}\t{p}\t-1\t{m}"
            for i, (k, s, n, p, m) in enumerate(
                zip(chrom, start, length, p_value, summit, strict=True)
            )
        )
        path = folder / f"cond{c:03d}.narrowPeak"
        path.write_text(lines + "\n")
        files.append(path)
    return files


def throughput(engine, store, intervals, spec: DatasetSpec, seconds: float = 4.0) -> float:
    plan = compile_plan(engine, store, spec, intervals=intervals)
    batches = iter_batches(plan, Cursor(0, 0, 1, 0), 128, shuffle=True, seed=0)
    next(batches)
    began, windows = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        windows += next(batches).batch_size
    return windows / (time.perf_counter() - began)


def _database(backend: str, work: Path, postgres: str) -> str:
    """The catalog URL of ``backend``: a file in the work dir, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        return str(work / backend / "catalog.sqlite")
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text("DROP DATABASE IF EXISTS peaksql_bench_store"))
        connection.execute(sa.text("CREATE DATABASE peaksql_bench_store"))
    admin.dispose()
    return str(sa.engine.make_url(postgres).set(database="peaksql_bench_store"))


def run_backend(backend: str, args: argparse.Namespace, genome: Path, files: list[Path]) -> None:
    """Ingest, plans, in-process and (``--remote``) remote throughput on one backend."""
    work = Path(args.work_dir)
    data_dir, db = work / backend, _database(backend, work, args.postgres)
    engine = open_database(db, data_dir=data_dir)
    add_genome(engine, data_dir, genome)
    t = time.perf_counter()
    for path in files:
        add_data(engine, path, "hg38sim", progress=False)
    target = 120 if backend == "sqlite" else 180
    print(f"[{backend}] add-data {args.conditions * args.peaks:,} lines: "
          f"{time.perf_counter() - t:.1f} s (target <= {target} s), rss {_rss_mb()}")  # fmt: skip
    t = time.perf_counter()
    os.sync()  # the parts just written: flushed now, not during the plans timed below
    print(f"[{backend}] sync after ingest: {time.perf_counter() - t:.1f} s")
    store, intervals = GenomeStore(data_dir), IntervalStore(data_dir)
    names = [f"cond{c:03d}" for c in range(args.conditions)]
    fifty = ", ".join(repr(n) for n in names[:50])
    for where in ("chromosome != 'chr8'", f"condition IN ({fifty}) AND p_value > 25"):
        t = time.perf_counter()
        plan = compile_plan(engine, store, DatasetSpec(seq_length=1000, stride=200, where=where),
                            intervals=intervals)  # fmt: skip
        print(f"[{backend}] plan {where[:40]!r}: {time.perf_counter() - t:.2f} s, "
              f"{len(plan.label_columns)} columns, {plan.num_windows:,} windows, "
              f"peak rss {_rss_mb()} (target <= 5 s)")  # fmt: skip
    eight = DatasetSpec(seq_length=1000, stride=200, conditions=tuple(names[:8]))
    few = throughput(engine, store, intervals, eight)
    every = throughput(engine, store, intervals, DatasetSpec(seq_length=1000, stride=200))
    print(f"[{backend}] in-process 1kbp x128 shuffled: 8 columns {few:,.0f} windows/s, "
          f"{args.conditions} columns {every:,.0f} windows/s, ratio {every / few:.0%}")  # fmt: skip
    engine.dispose()
    if args.remote:
        remote(backend, db, data_dir, names)


def remote(backend: str, db: str, data_dir: Path, names: list[str]) -> None:
    """Server process + client process: 8 vs every column, and the server's private memory."""
    server = Server(sys.executable, db, data_dir)
    try:
        few = server.rate(sys.executable, names[:8])
        every = server.rate(sys.executable, [])
        print(f"[{backend}] remote decoded 1kbp x128 shuffled: 8 columns {few:,.0f} windows/s, "
              f"{len(names)} columns {every:,.0f} windows/s, ratio {every / few:.0%} "
              f"(target >= 50 %); server private {server.private_mb():.0f} MB with the two "
              f"plans cached (target <= 2048 MB)")  # fmt: skip
    finally:
        server.close()


def baseline(python: str, work: Path, genome: Path, files: list[Path]) -> None:
    """The previous commit (``python`` runs it): 8 columns remote on a catalog of them."""
    data_dir = work / "baseline"
    db = str(data_dir / "catalog.sqlite")
    subprocess.run([python, "-m", "tests.benchmarks.bench_store_remote", "baseline-catalog", db,
                    str(data_dir), str(genome), *map(str, files[:8])], check=True)  # fmt: skip
    server = Server(python, db, data_dir)
    try:
        rate = server.rate(python, [f"cond{c:03d}" for c in range(8)])
        print(f"[baseline {python}] remote decoded 1kbp x128 shuffled: 8 columns "
              f"{rate:,.0f} windows/s (sqlite)")  # fmt: skip
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work-dir", default="/tmp/peaksql-bench-store")
    parser.add_argument("--conditions", type=int, default=500)
    parser.add_argument("--peaks", type=int, default=20_000)
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite,postgres")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--remote", action="store_true", help="also server + client processes")
    parser.add_argument("--baseline-python", help="Python of the previous commit's venv")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(args.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    print(f"load average before: {os.getloadavg()}")
    t = time.perf_counter()
    genome = write_genome(work / "genome" / "hg38sim.u8")
    files = write_peaks(work / "peaks", args.conditions, args.peaks)
    print(f"generate: {time.perf_counter() - t:.1f} s ({len(files)} files)")
    try:
        for backend in args.backends.split(","):
            run_backend(backend, args, genome, files)
        if args.baseline_python:
            baseline(args.baseline_python, work, genome, files)
    finally:
        print(f"load average after: {os.getloadavg()}")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
