"""Genome-scale benchmark of the interval store (issue 10): hg38-sized synthetic genome (24
chromosomes with hg38's lengths), 500 conditions x 20,000 narrowPeaks, SQLite.

    python -m tests.benchmarks.bench_store [--work-dir DIR] [--conditions 500] [--peaks 20000]

Prints: add-data of every file (s), new plans (s, peak RSS), in-process batches/s with 8 and
with all label columns (1 kbp windows, batch 128, shuffled). Generated data is deleted at
the end unless --keep.
"""

from __future__ import annotations

import argparse
import resource
import shutil
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

HG38 = (248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973,
        145138636, 138394717, 133797422, 135086622, 133275309, 114364328, 107043718,
        101991189, 90338345, 83257441, 80373285, 58617616, 64444167, 46709983, 50818468,
        156040895, 57227415)  # fmt: skip
NAMES = [f"chr{i}" for i in range(1, 23)] + ["chrX", "chrY"]


def _rss_mb() -> str:
    """Private (anonymous) memory now, and the peak of all resident memory (file pages of the
    genome and store included)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    anon = int(status["RssAnon"].split()[0]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return f"private {anon:.0f} MB (peak resident incl. file pages {peak:.0f} MB)"


def build_genome(engine: sa.Engine, data_dir: Path) -> None:
    """The store file (a repeated random 1 MiB block) and its rows, without a FASTA."""
    path = data_dir / "genomes" / "hg38sim.u8"
    path.parent.mkdir(parents=True, exist_ok=True)
    block = np.random.default_rng(1).choice(np.array([8, 4, 2, 1], np.uint8), 1 << 20)
    total = sum(HG38)
    with open(path, "wb") as handle:
        for begin in range(0, total, block.size):
            handle.write(block[: min(block.size, total - begin)].tobytes())
    with engine.begin() as connection:
        assembly_id = connection.execute(
            assemblies.insert().values(
                name="hg38sim", species="human", length=total, store_file="genomes/hg38sim.u8"
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work-dir", default="/tmp/peaksql-bench-store")
    parser.add_argument("--conditions", type=int, default=500)
    parser.add_argument("--peaks", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(args.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    data_dir = work / "data"
    engine = open_database(data_dir / "catalog.sqlite", data_dir=data_dir)
    t = time.perf_counter()
    build_genome(engine, data_dir)
    files = write_peaks(work / "peaks", args.conditions, args.peaks)
    print(f"generate: {time.perf_counter() - t:.1f} s ({len(files)} files)")
    t = time.perf_counter()
    for path in files:
        add_data(engine, path, "hg38sim", progress=False)
    lines = args.conditions * args.peaks
    ingest = time.perf_counter() - t
    print(f"add-data {lines:,} lines: {ingest:.1f} s (target <= 120 s SQLite), rss {_rss_mb()}")
    store, intervals = GenomeStore(data_dir), IntervalStore(data_dir)
    names = [f"cond{c:03d}" for c in range(args.conditions)]
    fifty = ", ".join(repr(n) for n in names[:50])
    for where in ("chromosome != 'chr8'", f"condition IN ({fifty}) AND p_value > 25"):
        t = time.perf_counter()
        plan = compile_plan(engine, store, DatasetSpec(seq_length=1000, stride=200, where=where),
                            intervals=intervals)  # fmt: skip
        print(f"plan {where[:40]!r}: {time.perf_counter() - t:.2f} s, "
              f"{len(plan.label_columns)} columns, {plan.num_windows:,} windows, "
              f"peak rss {_rss_mb()} (target <= 5 s)")  # fmt: skip
    eight = DatasetSpec(seq_length=1000, stride=200, conditions=tuple(names[:8]))
    few = throughput(engine, store, intervals, eight)
    every = throughput(engine, store, intervals, DatasetSpec(seq_length=1000, stride=200))
    print(f"in-process 1kbp x128 shuffled: 8 columns {few:,.0f} windows/s, "
          f"{args.conditions} columns {every:,.0f} windows/s, ratio {every / few:.0%} "
          f"(target >= 50 %), peak rss {_rss_mb()}")  # fmt: skip
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
