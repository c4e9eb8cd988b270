"""Signal-label throughput: 8 bigWig tracks at 32-bp bins, and the Enformer shape.

Catalog: the bundled example assembly (2 Mb of chr20) plus synthetic bigWigs written with
pyBigWig (a run every ~25 bp, values in [0, 10)), ingested through ``add_data``. Figures:

* 8 tracks, 1,024-bp windows, mean per 32-bp bin (y 8 x 32), batch 128, shuffled:
  windows/s in process (``iter_batches``: sequences + labels) and remote (gRPC, decoded).
  Stride windows start on zoom cells (bins are sums of cells); random windows mostly do
  not (bins are computed from the runs), so both are shown.
* Enformer: 131,072-bp windows, 64 tracks, 128-bp bins (1,024; the model crops to 896),
  batch 2: MB/s of label
  payload remote (float32 and float16 on the wire; decoded to float32).

Remote figures come from a server in its own process (``bench_remote.ServerProcess``) and
this process as the client, sharing the machine's cores.

``python -m tests.benchmarks.bench_signals [folder]``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyBigWig

import peaksql
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.engine.batches import iter_batches
from peaksql.server.engine.order import Cursor
from peaksql.server.engine.plan import compile_plan
from peaksql.server.ingest.example import build_example
from peaksql.server.ingest.intervals import add_data
from tests.benchmarks.bench_remote import ServerProcess

LENGTH = 2_000_000


def write_track(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    starts = np.cumsum(rng.integers(5, 45, LENGTH // 25))
    starts = starts[starts < LENGTH - 50]
    ends = starts + rng.integers(1, 5, starts.size) * 5
    ends = np.minimum(ends, np.append(starts[1:], LENGTH))
    handle = pyBigWig.open(str(path), "w")
    handle.addHeader([("chr20", LENGTH)], maxZooms=0)
    handle.addEntries(["chr20"] * starts.size, starts.tolist(), ends=ends.tolist(),
                      values=(rng.random(starts.size) * 10).tolist())  # fmt: skip
    handle.close()


def build(folder: Path) -> tuple[str, Path]:
    """The catalog in ``folder`` (built once; a rerun reuses it)."""
    url = f"sqlite:///{folder / 'catalog.db'}"
    if (folder / "catalog.db").exists():
        return url, folder
    engine = open_database(url)
    build_example(engine, folder, progress=False)
    for i in range(8):
        write_track(folder / f"t{i}.bw", i)
    for i in range(64):
        add_data(engine, folder / f"t{i % 8}.bw", "hg19-chr20-2mb", f"track{i:02d}", progress=False)
    engine.dispose()
    return url, folder


#: Seconds each figure is measured for, and how many times (the best is printed: the
#: machines are noisy, and a figure is what the code can do).
SECONDS = 2.0
REPEATS = 3


def in_process(url: str, folder: Path, spec: DatasetSpec, batch: int) -> float:
    """Windows/s of ``iter_batches`` (sequences + labels), epochs cycled, best of REPEATS."""
    engine = open_database(url)
    plan = compile_plan(engine, GenomeStore(folder), spec)
    for _ in iter_batches(plan, Cursor(0, 0, 1, 0), batch, shuffle=True, seed=1, max_batches=5):
        pass
    best, epoch = 0.0, 0
    for _ in range(REPEATS):
        began, n = time.perf_counter(), 0
        while time.perf_counter() - began < SECONDS:
            epoch += 1
            for b in iter_batches(plan, Cursor(epoch, 0, 1, 0), batch, shuffle=True, seed=2):
                n += b.batch_size
                if time.perf_counter() - began >= SECONDS:
                    break
        best = max(best, n / (time.perf_counter() - began))
    return best


def remote(client: peaksql.Client, batch: int, **spec: object) -> tuple[float, int]:
    """(windows/s, label bytes/s on the wire) of a decoded ``Dataset``, best of REPEATS."""
    data = client.dataset(batch_size=batch, shuffle=True, **spec)
    iterator = iter(data)
    for _ in range(3):
        next(iterator)
    width = 2 if spec.get("label_wire_dtype") == "float16" else 4
    best = (0.0, 0)
    for _ in range(REPEATS):
        began, n, label_bytes = time.perf_counter(), 0, 0
        while time.perf_counter() - began < SECONDS:
            try:
                _, y = next(iterator)
            except StopIteration:
                iterator = iter(data)
                _, y = next(iterator)
            n += y.shape[0]
            label_bytes += y.size * width
        seconds = time.perf_counter() - began
        best = max(best, (n / seconds, int(label_bytes / seconds)))
    return best


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    url, folder = build(folder)
    eight = dict(seq_length=1024, stride=64, label="signal", bin_size=32,
                 conditions=tuple(f"track{i:02d}" for i in range(8)))  # fmt: skip
    random_eight = {**eight, "stride": None, "random": 200_000}
    enformer = dict(seq_length=131_072, stride=1024, label="signal", bin_size=128,
                    conditions=tuple(f"track{i:02d}" for i in range(64)))  # fmt: skip
    rate = in_process(url, folder, DatasetSpec(**eight), 128)
    print(f"8 tracks x 32 bins, batch 128, shuffled, in process: {rate:,.0f} windows/s")
    rate = in_process(url, folder, DatasetSpec(**random_eight), 128)
    print(f"  random windows (run path), in process: {rate:,.0f} windows/s")
    rate = in_process(url, folder, DatasetSpec(**enformer), 2)
    print(f"Enformer 64 x 1024 bins, batch 2, in process: {rate:,.0f} windows/s "
          f"({rate * 64 * 1024 * 4 / 1e6:,.0f} MB/s of float32 labels)")  # fmt: skip
    server = ServerProcess(SimpleNamespace(db=url, data_dir=folder))  # type: ignore[arg-type]
    try:
        _remote_figures(server.address, eight, random_eight, enformer)
    finally:
        server.stop()


def _remote_figures(address: str, eight: dict, random_eight: dict, enformer: dict) -> None:
    """Remote figures from a server in its own process (as a lab runs it): this process is
    the training client."""
    with peaksql.Client(address) as c:
        rate, _ = remote(c, 128, **eight)
        print(f"8 tracks x 32 bins, batch 128, shuffled, remote decoded: {rate:,.0f} windows/s")
        rate, _ = remote(c, 128, **random_eight)
        print(f"  random windows (run path), remote decoded: {rate:,.0f} windows/s")
        for wire in ("float32", "float16"):
            rate, per_second = remote(c, 2, label_wire_dtype=wire, **enformer)
            decoded = rate * 64 * 1024 * 4 / 1e6
            print(f"Enformer 64 x 1024 bins, batch 2, remote ({wire} wire, decoded): "
                  f"{rate:,.0f} windows/s, {per_second / 1e6:,.0f} MB/s of labels on the wire, "
                  f"{decoded:,.0f} MB/s decoded float32")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/peaksql-bench-signals"))
