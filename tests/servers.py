"""Helpers for end-to-end tests: a tiny seeded catalog, servers in process or as a subprocess,
and the in-process engine as the reference the streamed bytes are compared with.

The catalog is assembly ``mini`` (three chromosomes with N runs, IUPAC letters and soft
masking) and two narrowPeak conditions, ``heart`` and ``liver``: small enough to build in
well under a second, rich enough that every label mode has positives and negatives.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.config import Limits, ServerConfig
from peaksql.server.engine.batches import BatchData, iter_batches
from peaksql.server.engine.order import Cursor
from peaksql.server.engine.plan import Plan, compile_plan
from peaksql.server.ingest.assembly import add_assembly
from peaksql.server.ingest.intervals import add_data
from peaksql.server.rpc.serve import RunningServer, serve
from tests.conftest import EXAMPLE_DIR

ASSEMBLY = "mini"
CHROMOSOME_LENGTHS = {"chr1": 3_000, "chr2": 2_200, "chr3": 1_300}
CONDITIONS = ("heart", "liver")
#: Letters of the random genome, with their probabilities: mostly ACGT, some IUPAC, N runs.
_LETTERS = list("ACGTacgtRYKMSWN")
_WEIGHTS = np.array([20] * 4 + [3] * 4 + [1] * 6 + [2], dtype=np.float64)


def write_inputs(folder: Path, seed: int = 7) -> tuple[Path, list[Path]]:
    """A random FASTA and one narrowPeak file per condition; returns their paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    fasta = folder / "mini.fa"
    with fasta.open("w") as out:
        for name, length in CHROMOSOME_LENGTHS.items():
            letters = rng.choice(_LETTERS, size=length, p=_WEIGHTS / _WEIGHTS.sum())
            gap = int(rng.integers(0, length - 200))
            letters[gap : gap + 150] = "N"  # a run of N, for max_n_fraction
            bases = "".join(letters)
            out.write(f">{name}\n")
            for i in range(0, length, 70):
                out.write(bases[i : i + 70] + "\n")
    peaks = []
    for k, condition in enumerate(CONDITIONS):
        path = folder / f"{condition}.narrowPeak"
        lines = []
        for name, length in CHROMOSOME_LENGTHS.items():
            for start in sorted(rng.integers(0, length - 400, size=6 + 2 * k)):
                width = int(rng.integers(40, 400))
                summit = int(rng.integers(0, width)) if rng.random() < 0.8 else -1
                p_value = float(rng.uniform(1, 20))
                lines.append(
                    f"{name}\t{start}\t{start + width}\tpeak\t0\t.\t{p_value:.2f}\t"
                    f"{p_value:.2f}\t-1\t{summit}\n"
                )
        path.write_text("".join(lines))
        peaks.append(path)
    return fasta, peaks


def build_catalog(db_url: str, data_dir: Path, seed: int = 7) -> None:
    """Ingest assembly ``mini`` and conditions ``heart`` and ``liver`` into ``db_url``."""
    fasta, peaks = write_inputs(data_dir.parent / "inputs", seed)
    engine = open_database(db_url)
    try:
        add_assembly(engine, data_dir, fasta, ASSEMBLY, "synthetic", progress=False)
        for path, condition in zip(peaks, CONDITIONS, strict=True):
            add_data(engine, path, ASSEMBLY, condition, progress=False)
    finally:
        engine.dispose()


def build_big_catalog(root: Path) -> tuple[str, Path]:
    """``build_catalog`` under ``root`` plus the bundled 2 Mbp example as assembly ``big``
    (a stride-1 stream over it cannot finish into socket buffers); (db URL, data dir)."""
    data_dir = root / "data"
    data_dir.mkdir()
    db = f"sqlite:///{root / 'catalog.db'}"
    build_catalog(db, data_dir)
    engine = open_database(db)
    try:
        add_assembly(engine, data_dir, EXAMPLE_DIR / "genome.fa", "big", progress=False)
    finally:
        engine.dispose()
    return db, data_dir


class Reference:
    """The in-process engine over the same catalog: the oracle of every streamed byte."""

    def __init__(self, db_url: str, data_dir: Path) -> None:
        self.engine = open_database(db_url)
        self.store = GenomeStore(data_dir)
        self._plans: dict[DatasetSpec, Plan] = {}

    def plan(self, spec: DatasetSpec) -> Plan:
        if spec not in self._plans:
            self._plans[spec] = compile_plan(self.engine, self.store, spec)
        return self._plans[spec]

    def batches(
        self,
        spec: DatasetSpec,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        delivered: int = 0,
        equal_shares: bool = False,
    ) -> list[BatchData]:
        cursor = Cursor(epoch, rank, world_size, delivered)
        return list(
            iter_batches(
                self.plan(spec),
                cursor,
                batch_size,
                shuffle=shuffle,
                seed=seed,
                equal_shares=equal_shares,
            )
        )

    def close(self) -> None:
        self.engine.dispose()


def start_server(db_url: str, data_dir: Path, **limits: int) -> RunningServer:
    """An in-process server on a free port of 127.0.0.1, with the given limits."""
    config = ServerConfig(
        db=db_url, data_dir=data_dir, host="127.0.0.1", port=0, workers=8, limits=Limits(**limits)
    )
    return serve(config)


@contextmanager
def running_server(db_url: str, data_dir: Path, **limits: int) -> Iterator[RunningServer]:
    server = start_server(db_url, data_dir, **limits)
    try:
        yield server
    finally:
        server.shutdown(grace=0)


_SERVING = re.compile(r"peaksql serving on (\S+):(\d+)")


@dataclass
class ServerProcess:
    """``peaksql serve`` in a subprocess; ``address`` is where it listens."""

    process: subprocess.Popen
    address: str

    @classmethod
    def start(
        cls, db_url: str, data_dir: Path, timeout: float = 60.0, extra: Sequence[str] = ()
    ) -> ServerProcess:
        """Start ``peaksql serve`` on a free port; ``extra``: more flags (``--stream-idle 1``)."""
        command = [
            sys.executable,
            "-m",
            "peaksql.server.cli",
            "serve",
            "--port",
            "0",
            "--db",
            db_url,
            "--data-dir",
            str(data_dir),
            "--log-format",
            "text",
            "--grace",
            "0",
            *extra,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        assert process.stdout is not None
        for line in process.stdout:  # the first line that names the port
            match = _SERVING.search(line)
            if match:
                return cls(process, f"{match.group(1)}:{match.group(2)}")
        process.wait(timeout)
        raise RuntimeError(f"peaksql serve exited with {process.returncode} before serving")

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL (a stopped process too): no graceful shutdown, streams break mid-message."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


@dataclass(frozen=True)
class Peak:
    chromosome: str
    condition: str
    start: int
    end: int
    p_value: float
    summit: int  # absolute position: start + peak offset, else the midpoint


class Truth:
    """Brute-force oracle over the input files: FASTA letters (pyfaidx) and peaks (Python)."""

    def __init__(self, folder: Path) -> None:
        import pyfaidx

        from peaksql.core.alphabet import LETTER_TO_MASK

        fasta = pyfaidx.Fasta(str(folder / "mini.fa"), sequence_always_upper=True)
        self.masks = {
            name: np.array([LETTER_TO_MASK[c] for c in str(fasta[name][:])], dtype=np.uint8)
            for name in CHROMOSOME_LENGTHS
        }
        fasta.close()
        self.peaks = []
        for condition in CONDITIONS:
            for line in (folder / f"{condition}.narrowPeak").read_text().splitlines():
                f = line.split("\t")
                start, end, offset = int(f[1]), int(f[2]), int(f[9])
                summit = start + offset if offset >= 0 else (start + end) // 2
                self.peaks.append(Peak(f[0], condition, start, end, float(f[6]), summit))

    def packed(self, chromosome: str, start: int, seq_length: int) -> bytes:
        """The window's bases packed two a byte, first in the high nibble, odd L padded 0."""
        masks = list(self.masks[chromosome][start : start + seq_length])
        if len(masks) % 2:
            masks.append(0)
        return bytes((hi << 4) | lo for hi, lo in zip(masks[0::2], masks[1::2], strict=True))

    def labels(
        self, spec: DatasetSpec, chromosome: str, start: int, min_p_value: float = -1.0
    ) -> np.ndarray:
        """The window's labels per condition (sorted by name), base by base."""
        inner = spec.inner_range or spec.seq_length
        begin = start + (spec.seq_length - inner) // 2
        rows = []
        for condition in CONDITIONS:
            peaks = [
                p
                for p in self.peaks
                if p.chromosome == chromosome
                and p.condition == condition
                and p.p_value > min_p_value
            ]
            covered = np.zeros(inner, dtype=bool)
            for p in peaks:
                covered[max(p.start - begin, 0) : max(p.end - begin, 0)] = True
            if spec.label == "per_base":
                rows.append(covered)
            elif spec.label == "any":
                rows.append(covered.any())
            elif spec.label == "all":
                rows.append(covered.all())
            elif spec.label == "fraction":
                rows.append(covered.sum() >= spec.fraction * inner - 1e-9)
            else:  # summit
                rows.append(any(begin <= p.summit < begin + inner for p in peaks))
        return np.array(rows, dtype=bool)
