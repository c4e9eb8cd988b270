"""The benchmark catalog: a seeded synthetic genome plus peak files, generated once and cached.

    seed -> genome.fa (IUPAC, soft-masked, N gaps) -> store file + chromosome rows
         -> 8 narrowPeak conditions (the label columns) + bulk BED conditions (to reach 1M rows)

Everything comes from ``np.random.default_rng(SEED)``, so every run and machine benchmarks
the same data. A ``manifest.json`` written last marks a complete catalog; a directory
without it (an interrupted build) or with other parameters is rebuilt from scratch.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from peaksql.server.catalog.genome_store import GenomeStore

SEED = 20_240_601
ASSEMBLY = "bench"
#: Bump when the generator changes, so cached catalogs are rebuilt.
GENERATOR_VERSION = 1
FASTA_LINE_BASES = 60


@dataclass(frozen=True)
class Scale:
    """How big the generated catalog is."""

    name: str
    chromosome_lengths: tuple[int, ...]
    num_peak_conditions: int
    peaks_per_condition: int
    num_bulk_conditions: int
    intervals_per_bulk_condition: int

    @property
    def genome_length(self) -> int:
        return sum(self.chromosome_lengths)

    @property
    def num_intervals(self) -> int:
        return (
            self.num_peak_conditions * self.peaks_per_condition
            + self.num_bulk_conditions * self.intervals_per_bulk_condition
        )


FULL = Scale(
    name="full",
    chromosome_lengths=(16_000_000, 13_000_000, 11_000_000, 9_000_000, 8_000_000, 7_000_000),
    num_peak_conditions=8,
    peaks_per_condition=15_000,
    num_bulk_conditions=4,
    intervals_per_bulk_condition=220_000,  # 8 x 15k + 4 x 220k = 1,000,000 intervals
)
QUICK = Scale(
    name="quick",
    chromosome_lengths=(2_000_000, 1_500_000, 1_000_000),
    num_peak_conditions=8,
    peaks_per_condition=2_000,
    num_bulk_conditions=2,
    intervals_per_bulk_condition=20_000,
)


@dataclass(frozen=True)
class Catalog:
    """Paths of a generated catalog and what it holds."""

    root: Path
    db: str
    data_dir: Path
    fasta: Path
    store_file: Path
    peak_files: tuple[Path, ...]
    scale: Scale
    build_seconds: float

    @property
    def peak_conditions(self) -> tuple[str, ...]:
        """Label columns of the benchmark specs (the narrowPeak conditions), sorted."""
        return tuple(sorted(condition_name(p) for p in self.peak_files))

    @property
    def genome_bytes(self) -> int:
        return self.store_file.stat().st_size

    def chromosomes(self) -> list[tuple[str, int]]:
        return [(f"chr{k + 1}", n) for k, n in enumerate(self.scale.chromosome_lengths)]


def condition_name(path: Path) -> str:
    return path.name.split(".")[0]


def ensure_catalog(work_dir: Path, scale: Scale, *, log=print) -> Catalog:  # type: ignore[no-untyped-def]
    """The catalog of ``scale`` under ``work_dir``: reused when complete, else built anew."""
    root = Path(work_dir).expanduser().resolve() / scale.name
    manifest_path = root / "manifest.json"
    wanted = {"generator": GENERATOR_VERSION, "seed": SEED, "scale": asdict(scale)}
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if {k: manifest.get(k) for k in wanted} == json.loads(json.dumps(wanted)):
            return _catalog(root, scale, float(manifest["build_seconds"]))
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    began = time.perf_counter()
    log(f"building the {scale.name} catalog in {root} (once; reused by later runs)")
    rng = np.random.default_rng(SEED)
    catalog = _catalog(root, scale, 0.0)
    _write_fasta(catalog.fasta, scale, rng)
    interval_files = _write_intervals(root, scale, rng)
    _ingest(catalog, interval_files, log)
    seconds = time.perf_counter() - began
    manifest_path.write_text(json.dumps({**wanted, "build_seconds": seconds}, indent=2))
    log(f"catalog built in {seconds:.1f} s")
    return _catalog(root, scale, seconds)


def _catalog(root: Path, scale: Scale, build_seconds: float) -> Catalog:
    peaks = tuple(
        root / "intervals" / f"peaks_{k}.narrowPeak" for k in range(scale.num_peak_conditions)
    )
    return Catalog(
        root=root,
        db=str(root / "catalog.sqlite"),
        data_dir=root / "data",
        fasta=root / "genome.fa",
        store_file=GenomeStore(root / "data").store_path(ASSEMBLY),
        peak_files=peaks,
        scale=scale,
        build_seconds=build_seconds,
    )


def _chromosome_codes(length: int, rng: np.random.Generator) -> np.ndarray:
    """ASCII letters of one chromosome: GC 41 %, N telomeres and gaps, soft-masked repeats,
    a sprinkle of other IUPAC letters."""
    letters = np.frombuffer(b"ACGT", np.uint8)
    seq = letters[rng.choice(4, size=length, p=[0.295, 0.205, 0.205, 0.295])]
    for _ in range(max(1, length // 2_000_000)):  # ~0.5 gaps per Mbp, 1-50 kb each
        begin = int(rng.integers(0, length))
        seq[begin : begin + int(rng.integers(1_000, 50_000))] = ord("N")
    telomere = min(10_000, length // 100)
    seq[:telomere] = ord("N")
    seq[length - telomere :] = ord("N")
    num_repeats = length // 2_000  # repeats of 50-1,000 bp: about a quarter soft-masked
    repeat_starts = rng.integers(0, length, num_repeats)
    repeat_lengths = rng.integers(50, 1_000, num_repeats)
    lower = np.zeros(length + 1, np.int32)
    np.add.at(lower, repeat_starts, 1)
    np.add.at(lower, np.minimum(repeat_starts + repeat_lengths, length), -1)
    masked = np.cumsum(lower[:length]) > 0
    other = np.frombuffer(b"RYSWKMBDHV", np.uint8)
    rare = rng.integers(0, length, length // 100_000)
    seq[rare] = other[rng.integers(0, other.size, rare.size)]
    seq[masked & (seq != ord("N"))] += 32  # lowercase
    return seq


def _write_fasta(path: Path, scale: Scale, rng: np.random.Generator) -> None:
    with path.open("wb") as out:
        for k, length in enumerate(scale.chromosome_lengths):
            out.write(f">chr{k + 1}\n".encode())
            seq = _chromosome_codes(length, rng)
            full = length // FASTA_LINE_BASES * FASTA_LINE_BASES
            lines = np.empty((full // FASTA_LINE_BASES, FASTA_LINE_BASES + 1), np.uint8)
            lines[:, :-1] = seq[:full].reshape(-1, FASTA_LINE_BASES)
            lines[:, -1] = ord("\n")
            out.write(lines.tobytes())
            if full < length:
                out.write(seq[full:].tobytes() + b"\n")


def _random_intervals(
    scale: Scale, count: int, rng: np.random.Generator, median_length: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chromosome index, start, end) sorted, uniform over the genome (length-weighted)."""
    lengths = np.array(scale.chromosome_lengths, np.int64)
    chrom = rng.choice(lengths.size, size=count, p=lengths / lengths.sum())
    size = np.clip(rng.lognormal(np.log(median_length), 0.5, count), 50, 5_000).astype(np.int64)
    start = (rng.random(count) * (lengths[chrom] - size)).astype(np.int64)
    order = np.lexsort((start, chrom))
    return chrom[order], start[order], (start + size)[order]


def _write_intervals(root: Path, scale: Scale, rng: np.random.Generator) -> list[Path]:
    folder = root / "intervals"
    folder.mkdir()
    written = []
    for k in range(scale.num_peak_conditions):
        chrom, start, end = _random_intervals(scale, scale.peaks_per_condition, rng, 400.0)
        n = chrom.size
        signal = rng.gamma(2.0, 5.0, n)
        p_value = rng.exponential(10.0, n)
        summit = (rng.random(n) * (end - start)).astype(np.int64)
        path = folder / f"peaks_{k}.narrowPeak"
        path.write_text(
            "".join(
                f"chr{c + 1}\t{s}\t{e}\tpeak{i}\t{min(1000, int(v * 20))}\t.\t{v:.3f}"
                f"\t{p:.3f}\t{p / 2:.3f}\t{m}\n"
                for i, (c, s, e, v, p, m) in enumerate(
                    zip(chrom, start, end, signal, p_value, summit, strict=True)
                )
            )
        )
        written.append(path)
    for k in range(scale.num_bulk_conditions):
        chrom, start, end = _random_intervals(scale, scale.intervals_per_bulk_condition, rng, 150.0)
        path = folder / f"bulk_{k}.bed"
        path.write_text(
            "".join(f"chr{c + 1}\t{s}\t{e}\n" for c, s, e in zip(chrom, start, end, strict=True))
        )
        written.append(path)
    return written


def _ingest(catalog: Catalog, files: list[Path], log) -> None:  # type: ignore[no-untyped-def]
    from peaksql.server.catalog.database import open_database
    from peaksql.server.ingest.assembly import add_assembly
    from peaksql.server.ingest.intervals import add_data

    engine = open_database(catalog.db)
    try:
        began = time.perf_counter()
        add_assembly(engine, catalog.data_dir, catalog.fasta, ASSEMBLY, progress=False)
        log(
            f"  genome {catalog.scale.genome_length:,} bp ingested in "
            f"{time.perf_counter() - began:.1f} s"
        )
        began = time.perf_counter()
        for path in files:
            add_data(engine, path, ASSEMBLY, condition_name(path), progress=False)
        log(
            f"  {catalog.scale.num_intervals:,} intervals ingested in "
            f"{time.perf_counter() - began:.1f} s"
        )
    finally:
        engine.dispose()
