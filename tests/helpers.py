"""Builders for engine and genome-store tests: random genomes, FASTA (plain, BGZF), BED files,
and a catalog ingested through the public ingest functions.

    random genome + random intervals --write--> FASTA / BED / narrowPeak --ingest--> catalog

FASTA text and BGZF come from ``tests.fasta_util`` (zlib only, independent of the
Bio.bgzf reader that pyfaidx uses as the oracle).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from peaksql.server.ingest.assembly import add_assembly
from peaksql.server.ingest.intervals import add_data
from tests import fasta_util

#: Letters of a random genome, with their weights: mostly ACGT, some ambiguity codes.
_CERTAIN = "ACGT"
_AMBIGUOUS = "RYSWKMBDHVN"


# --- FASTA ---------------------------------------------------------------------------------


def write_fasta(
    path: Path,
    records: Iterable[tuple[str, str]],
    widths: int | Sequence[int] = 60,
    *,
    bgzip: bool = False,
) -> Path:
    """(name, sequence) records as a FASTA file (see ``tests.fasta_util``)."""
    return fasta_util.write_fasta(path, fasta_util.fasta_text(records, widths), bgzip=bgzip)


def random_sequence(rng: np.random.Generator, length: int) -> str:
    """Mostly ACGT with ambiguity letters, lowercase stretches, N runs and the odd gap."""
    letters = rng.choice(list(_CERTAIN + _AMBIGUOUS + "-"), size=length, p=_letter_weights())
    for _ in range(int(rng.integers(0, 3))):  # N runs
        begin = int(rng.integers(0, max(length, 1)))
        letters[begin : begin + int(rng.integers(1, 120))] = "N"
    for _ in range(int(rng.integers(0, 3))):  # soft-masked stretches
        begin = int(rng.integers(0, max(length, 1)))
        end = begin + int(rng.integers(1, 200))
        letters[begin:end] = np.char.lower(letters[begin:end])
    return "".join(letters)


def _letter_weights() -> np.ndarray:
    weights = np.array([0.22] * 4 + [0.1 / len(_AMBIGUOUS)] * len(_AMBIGUOUS) + [0.02])
    return weights / weights.sum()


# --- intervals -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IntervalFile:
    """One interval file of a catalog: ``rows`` are its text lines' fields (BED or narrowPeak)."""

    condition: str
    assembly: str
    fmt: str  # "bed" or "narrowpeak"
    rows: list[tuple]

    @property
    def suffix(self) -> str:
        return ".narrowPeak" if self.fmt == "narrowpeak" else ".bed"

    def text(self) -> str:
        header = "track name=test\n# a comment\n"
        return header + "".join("\t".join(str(v) for v in row) + "\n" for row in self.rows)


def random_intervals(
    rng: np.random.Generator,
    chromosomes: Sequence[tuple[str, int]],
    count: int,
    fmt: str,
) -> list[tuple]:
    """``count`` random rows on ``chromosomes`` (name, length): overlapping, some empty."""
    rows = []
    for k in range(count):
        name, length = chromosomes[int(rng.integers(0, len(chromosomes)))]
        start = int(rng.integers(0, length + 1))
        end = min(length, start + int(rng.integers(0, 250)))
        score = int(rng.integers(0, 12))
        strand = "+-."[int(rng.integers(0, 3))]
        label = f"p{k}"
        if fmt == "bed":
            rows.append((name, start, end, label, score, strand))
            continue
        width = end - start
        summit = int(rng.integers(0, width)) if width and rng.random() < 0.7 else -1
        p_value = -1 if rng.random() < 0.2 else round(float(rng.uniform(0, 10)), 3)
        rows.append((name, start, end, label, score, strand, 1.5, p_value, -1, summit))
    return rows


# --- catalog -------------------------------------------------------------------------------


@dataclass
class Catalog:
    """What was ingested, in ingest order: assemblies (name, species, records) and files."""

    assemblies: list[tuple[str, str | None, list[tuple[str, str]]]] = field(default_factory=list)
    files: list[IntervalFile] = field(default_factory=list)


def ingest(engine: sa.Engine, data_dir: Path, folder: Path, catalog: Catalog) -> None:
    """Write the catalog's FASTA and interval files under ``folder`` and ingest them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, species, records in catalog.assemblies:
        fasta = write_fasta(folder / f"{name}.fa", records, 50)
        add_assembly(engine, data_dir, fasta, name, species, progress=False)
    for item in catalog.files:
        path = folder / f"{item.condition}{item.suffix}"
        path.write_text(item.text())
        add_data(engine, path, item.assembly, item.condition, item.fmt, progress=False)


def random_catalog(seed: int, *, num_assemblies: int = 2, max_length: int = 2000) -> Catalog:
    """A small random catalog: a few chromosomes of 50..max_length bases per assembly and
    several conditions (BED6 and narrowPeak) with overlapping intervals.
    """
    rng = np.random.default_rng(seed)
    catalog = Catalog()
    conditions = iter(["a", "b", "B", "c", "_d", "e", "f", "g"])
    for a in range(num_assemblies):
        name = f"g{a + 1}"
        num_chromosomes = int(rng.integers(1, 4))
        records = [
            (f"c{k + 1}", random_sequence(rng, int(rng.integers(50, max_length + 1))))
            for k in range(num_chromosomes)
        ]
        catalog.assemblies.append((name, "human" if a == 0 else "mouse", records))
        sizes = [(chrom, len(seq)) for chrom, seq in records]
        for fmt in ("bed", "narrowpeak", "narrowpeak") if a == 0 else ("narrowpeak", "bed"):
            rows = random_intervals(rng, sizes, int(rng.integers(1, 30)), fmt)
            catalog.files.append(IntervalFile(next(conditions), name, fmt, rows))
    return catalog


def store_rows(engine: Any, condition: str) -> list[tuple[Any, ...]]:
    """A condition's intervals read back from the interval store: (chromosome, start, end,
    name, score, strand, signal_value, p_value, q_value, summit, value), NULL as None, sorted
    by (chromosome id order, start, end) with file order kept among ties."""
    from peaksql.server.catalog.interval_store import IntervalStore, data_dir_of
    from peaksql.server.catalog.schema import chromosomes, conditions, parts

    store = IntervalStore(data_dir_of(engine))
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(parts.c.path, parts.c.assembly_id)
            .join(conditions, conditions.c.id == parts.c.condition_id)
            .where(conditions.c.name == condition)
            .order_by(parts.c.id)
        ).all()
        names = {
            a: connection.execute(
                sa.select(chromosomes.c.name, chromosomes.c.offset)
                .where(chromosomes.c.assembly_id == a)
                .order_by(chromosomes.c.id)
            ).all()
            for a in {row.assembly_id for row in found}
        }
    out: list[tuple[Any, ...]] = []
    for path, assembly_id in found:
        out += _part_rows(store.part(path), names[assembly_id])
    return [r[:-1] for r in sorted(out, key=lambda r: (r[-1], r[1], r[2]))]


def _part_rows(part: Any, chromosome_rows: list[Any]) -> list[tuple[Any, ...]]:
    chrom = np.asarray(part.chrom)
    offsets = np.array([row.offset for row in chromosome_rows], dtype=np.int64)
    columns: list[list[Any]] = [
        [chromosome_rows[c].name for c in chrom],
        (part.start - offsets[chrom]).tolist(),
        (part.end - offsets[chrom]).tolist(),
    ]
    for column in ("name", "score", "strand", "signal_value", "p_value", "q_value", "summit",
                  "value"):  # fmt: skip
        field = column
        if field in ("name", "strand"):
            text = part.text(field)
            values = [None] * len(chrom) if text is None else [
                None if k < 0 else str(text.table[k]) for k in text.codes]  # fmt: skip
        else:
            array = part.numeric(field)
            if array is None:
                values = [None] * len(chrom)
            elif field == "summit":
                values = [None if v == -1 else int(v) for v in array]
            else:
                values = [None if np.isnan(v) else float(v) for v in array]
        columns.append(values)
    return [(*row, int(c)) for row, c in zip(zip(*columns, strict=True), chrom, strict=True)]
