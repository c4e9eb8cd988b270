"""Sampling benchmarks (issue 12): the cost of training-ready sampling, and GC-matched set-up.

    python -m tests.benchmarks.bench_sampling remote [--quick] [--seconds 8] [--repeats 3]
    python -m tests.benchmarks.bench_sampling gc [--gbp 3.1] [--positives 100000]

``remote``: one client process streaming + decoding (float32 one-hot) 1 kbp windows in
batches of 128 from a server process, plain stride windows against the same windows with
exclusion, balanced negatives (r = 1), reverse complement "random" and max_shift 50 all on,
alternated in the same run (best of ``--repeats`` each); the target is a ratio >= 0.8.

``gc``: a synthetic genome of ``--gbp`` gigabases (store file written directly, regional GC
drawn per megabase, 24 chromosomes) and ``--positives`` peaks; times compile_plan and the
first epoch's set-up (labels of every window, GC of every window from the store in numba,
the GC-matched draw) for 1 kbp windows at stride 1 kbp. The target is <= 5 s of set-up.
The store file (about --gbp GB) is deleted afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.benchmarks.common import HEADLINE, Shape, best_row
from tests.benchmarks.data import FULL, QUICK, ensure_catalog

SHAPE = Shape("1kbp x128", 1_000, 1_000, 128)
FEATURES = {
    "negatives_per_positive": 1.0,
    "reverse_complement": "random",
    "max_shift": 50,
}


def remote(work_dir: Path, quick: bool, seconds: float, repeats: int) -> None:
    from tests.benchmarks.bench_remote import ServerProcess, run_clients, single_stream

    catalog = ensure_catalog(work_dir, QUICK if quick else FULL)
    excluded = catalog.peak_conditions[-1]
    conditions = catalog.peak_conditions[:-1]
    server = ServerProcess(catalog)
    try:
        plain_rows, feature_rows = [], []

        def featured():  # type: ignore[no-untyped-def]
            kwargs = {**SHAPE.dataset_kwargs(conditions), **FEATURES, "exclude": (excluded,)}
            job = {"address": server.address, "kwargs": kwargs, "mode": "decode"}
            [result], _ = run_clients(server, [{**job, "seconds": seconds, "warm": True}])
            return _row("training-ready", result)

        for _ in range(max(1, repeats)):  # alternated: the machine's load hits both alike
            plain_rows.append(single_stream(server, SHAPE, conditions, seconds, "decode"))
            feature_rows.append(featured())
        plain = best_row(lambda: plain_rows.pop(), len(plain_rows))
        features = best_row(lambda: feature_rows.pop(), len(feature_rows))
    finally:
        server.stop()
    rate, base = features.values["windows_per_s"], plain.values["windows_per_s"]
    print(f"catalog {catalog.scale.name}: {catalog.scale.genome_length:,} bp, shape {SHAPE.name}")
    print(f"plain stride windows     : {base:,.0f} windows/s")
    print(f"exclusion+r=1+RC+shift50 : {rate:,.0f} windows/s  (excluded: {excluded})")
    print(f"ratio                    : {rate / base:.2f}  (target >= 0.80)")


def _row(name: str, result: dict):  # type: ignore[no-untyped-def]
    from tests.benchmarks.common import Row

    return Row("remote", name, SHAPE.name, {"windows_per_s": result["windows_per_s"]})


def _write_genome(path: Path, lengths: list[int], rng: np.random.Generator) -> None:
    """Random A/C/G/T codes with a GC probability drawn per megabase (0.3 to 0.65)."""
    at, gc = np.array([8, 1], np.uint8), np.array([4, 2], np.uint8)
    chunk = 1 << 20
    with path.open("wb") as out:
        for length in lengths:
            for begin in range(0, length, chunk):
                size = min(chunk, length - begin)
                noise = rng.integers(0, 256, size=size, dtype=np.uint8)
                is_gc = noise < int(256 * rng.uniform(0.3, 0.65))
                pick = noise & 1
                out.write(np.where(is_gc, gc[pick], at[pick]).tobytes())


def gc_setup(gbp: float, positives: int, keep: bool) -> None:
    from peaksql.core.spec import DatasetSpec
    from peaksql.server.catalog.database import open_database
    from peaksql.server.catalog.genome_store import ChromosomeRecord, GenomeStore
    from peaksql.server.engine.epochs import epoch_summary, epoch_view
    from peaksql.server.engine.plan import compile_plan
    from peaksql.server.ingest.assembly import _insert_rows
    from peaksql.server.ingest.intervals import add_data

    root = Path(tempfile.mkdtemp(prefix="peaksql-gc-bench-"))
    try:
        rng = np.random.default_rng(12)
        total = int(gbp * 1e9)
        weights = np.linspace(2.0, 0.4, 24)
        lengths = [int(w) for w in weights / weights.sum() * total]
        store = GenomeStore(root / "data")
        path = store.store_path("big")
        path.parent.mkdir(parents=True)
        began = time.perf_counter()
        _write_genome(path, lengths, rng)
        print(f"genome {sum(lengths):,} bp written in {time.perf_counter() - began:.1f} s")
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        records = [
            ChromosomeRecord(f"chr{k + 1}", n, int(o))
            for k, (n, o) in enumerate(zip(lengths, offsets, strict=True))
        ]
        engine = open_database(f"sqlite:///{root / 'catalog.db'}")
        with engine.begin() as connection:
            _insert_rows(connection, "big", None, store.relative(path), records)
        chrom = rng.integers(0, 24, size=positives)
        starts = (rng.random(positives) * (np.array(lengths)[chrom] - 1000)).astype(np.int64)
        bed = root / "peaks.bed"
        bed.write_text(
            "".join(f"chr{c + 1}\t{s}\t{s + 300}\n" for c, s in zip(chrom, starts, strict=True))
        )
        add_data(engine, bed, "big", "peaks", "bed", progress=False)
        spec = DatasetSpec(
            seq_length=1000, stride=1000, negatives_per_positive=1.0, gc_matched=True
        )
        _time_setup(engine, store, spec, compile_plan, epoch_view, epoch_summary)
        engine.dispose()
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _time_setup(engine, store, spec, compile_plan, epoch_view, epoch_summary) -> None:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    plan = compile_plan(engine, store, spec)
    compiled = time.perf_counter() - began
    began = time.perf_counter()
    view = epoch_view(plan, 0)
    first = time.perf_counter() - began
    began = time.perf_counter()
    epoch_view(plan, 1)
    second = time.perf_counter() - began
    summary = epoch_summary(plan, count_classes=True)
    print(f"windows {plan.num_windows:,}; epoch {view.num_items:,} items")
    print(f"positives {summary.positives:,}, negatives {summary.negatives:,}")
    print(f"GC histogram max difference {summary.gc_difference:.4f}")
    print(f"compile_plan {compiled:.2f} s")
    print(f"first epoch set-up (labels, GC of every window, draw) {first:.2f} s")
    print(f"next epoch set-up (draw) {second:.2f} s")
    print(f"plan + first epoch {compiled + first:.2f} s  (target <= 5 s for the epoch set-up)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("remote")
    r.add_argument("--work-dir", type=Path, default=Path.home() / ".cache" / "peaksql-bench")
    r.add_argument("--quick", action="store_true")
    r.add_argument("--seconds", type=float, default=8.0)
    r.add_argument("--repeats", type=int, default=3)
    g = sub.add_parser("gc")
    g.add_argument("--gbp", type=float, default=3.1)
    g.add_argument("--positives", type=int, default=100_000)
    g.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "remote":
        remote(args.work_dir, args.quick, args.seconds, args.repeats)
    else:
        gc_setup(args.gbp, args.positives, args.keep)


if __name__ == "__main__":
    assert HEADLINE is not None
    main()
