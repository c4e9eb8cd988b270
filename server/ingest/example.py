"""The bundled example: 2 Mb of human chr20 (hg19) with real CTCF peaks, TF sites and genes,
and signal tracks: GC per 100 bp (bigWig), repeat fraction per 100 kb (bedGraph) and a
stranded TSS pair (bigWig + and −).

Small enough to ship in the package, so the quick start works offline.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import sqlalchemy as sa

from peaksql.server.catalog.queries import list_assemblies, list_conditions
from peaksql.server.ingest.assembly import add_assembly
from peaksql.server.ingest.intervals import add_data
from peaksql.server.ingest.signals import add_stranded_pair

EXAMPLE_ASSEMBLY = "hg19-chr20-2mb"
EXAMPLE_CONDITIONS = ("blacklist", "cpg_islands", "ctcf_peaks", "genes", "tf_sites")
#: Signal conditions: name -> (file, strand) tracks.
EXAMPLE_SIGNALS: dict[str, tuple[tuple[str, str], ...]] = {
    "gc": (("gc_100bp.bw", ""),),
    "repeat_frac": (("repeat_frac_100kb.bedGraph", ""),),
    "tss": (("tss_plus.bw", "+"), ("tss_minus.bw", "-")),
}


def example_dir() -> Path:
    """The directory holding the bundled FASTA and BED files."""
    return Path(str(resources.files("peaksql.server.example")))


def build_example(engine: sa.Engine, data_dir: Path, *, progress: bool = True) -> None:
    """Ingest the example assembly, its five BED files and its signal tracks; skip what is
    already there."""
    folder = example_dir()
    if EXAMPLE_ASSEMBLY not in {a.name for a in list_assemblies(engine)}:
        add_assembly(
            engine, data_dir, folder / "genome.fa", EXAMPLE_ASSEMBLY, "human", progress=progress
        )
    present = {c.name for c in list_conditions(engine)}
    for name in EXAMPLE_CONDITIONS:
        if name not in present:
            add_data(engine, folder / f"{name}.bed", EXAMPLE_ASSEMBLY, name, progress=progress)
    for name, tracks in EXAMPLE_SIGNALS.items():
        if name in present:
            continue
        if len(tracks) == 2:  # a stranded pair: + then -
            plus, minus = (folder / file for file, _ in tracks)
            add_stranded_pair(engine, plus, minus, EXAMPLE_ASSEMBLY, name, data_dir=data_dir)
            continue
        file, strand = tracks[0]  # strand "": a bedGraph is read as a signal track too
        add_data(
            engine,
            folder / file,
            EXAMPLE_ASSEMBLY,
            name,
            strand=strand,
            progress=progress,
            data_dir=data_dir,
        )
