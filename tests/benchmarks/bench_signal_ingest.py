"""Ingest of a genome-scale bigWig (3.1 Gbp, 50M runs) into the signal store: time, peak RSS.

Generates the bigWig with pyBigWig's writer (24 chromosomes, runs of 1-120 bp with gaps),
streams it through ``read_bigwig`` + ``TrackWriter`` (the ingest path without the catalog
row), then deletes both. ``python -m tests.benchmarks.bench_signal_ingest [folder]``.
"""

from __future__ import annotations

import resource
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyBigWig

from peaksql.server.ingest.chromosomes import ChromosomeResolver, TargetAssembly
from peaksql.server.ingest.signal_writer import TrackWriter
from peaksql.server.ingest.signals import read_bigwig

GENOME, RUNS, CHROMS = 3_100_000_000, 50_000_000, 24


def write_bigwig(path: Path) -> dict[str, int]:
    sizes = {f"chr{i + 1}": GENOME // CHROMS for i in range(CHROMS)}
    rng = np.random.default_rng(0)
    handle = pyBigWig.open(str(path), "w")
    handle.addHeader(list(sizes.items()), maxZooms=0)
    per = RUNS // CHROMS
    for name, size in sizes.items():
        for part in range(0, per, 1_000_000):
            n = min(1_000_000, per - part)
            step = size // per
            starts = (np.arange(part, part + n, dtype=np.int64) * step).astype(np.int64)
            ends = starts + rng.integers(1, step, n)
            values = rng.random(n).astype(np.float64)
            handle.addEntries(
                [name] * n, starts.tolist(), ends=ends.tolist(), values=values.tolist()
            )
    handle.close()
    return sizes


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "big.bw"
    began = time.perf_counter()
    sizes = write_bigwig(path)
    print(f"wrote {path.stat().st_size / 1e9:.2f} GB bigWig in {time.perf_counter() - began:.0f} s")
    offsets = np.concatenate([[0], np.cumsum(list(sizes.values()))])[:-1]
    lengths = np.array(list(sizes.values()), dtype=np.int64)
    target = TargetAssembly(0, ChromosomeResolver(list(sizes), "big"), lengths, offsets)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    writer = TrackWriter(folder / "data", (offsets, lengths))  # with zoom cells, as add-data
    for index, starts, ends, values in read_bigwig(path, target, Counter()):
        writer.append(index, starts, ends, values)
    writer.finish()
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"ingest: {writer.num_runs:,} runs in {seconds:.1f} s "
          f"({writer.num_runs / seconds / 1e6:.2f} M runs/s); peak RSS {peak / 1024:.0f} MiB "
          f"(before ingest {before / 1024:.0f} MiB)")  # fmt: skip
    shutil.rmtree(folder)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/peaksql-signal-ingest"))
