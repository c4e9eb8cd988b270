"""Remote half of ``bench_store``: a ``peaksql serve`` process and a client process.

Run by ``bench_store --remote`` with the Python of the code under test, so the same helper
measures this tree and a previous commit (its own venv, ``--baseline-python``)::

    python -m tests.benchmarks.bench_store_remote client ADDRESS [CONDITION ...]
    python -m tests.benchmarks.bench_store_remote baseline-catalog DB DATA_DIR GENOME FILE ...

Only APIs both versions share are used here (``Dataset``, ``open_database``, the schema's
assembly and chromosome tables, ``add_data_files``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

SECONDS = 8.0
_SERVING = re.compile(r"peaksql serving on (\S+):(\d+)")


def client_rate(address: str, conditions: list[str], seconds: float = SECONDS) -> float:
    """Decoded windows/s of 1 kbp windows, batch 128, shuffled, through ``Dataset``."""
    import peaksql
    from peaksql.dataset import Dataset

    spec = {"seq_length": 1000, "stride": 200}
    if conditions:
        spec["conditions"] = tuple(conditions)
    with peaksql.Client(address) as client:
        batches = iter(Dataset(client, batch_size=128, shuffle=True, seed=0, **spec))
        next(batches)  # the plan is built and cached
        began, windows = time.perf_counter(), 0
        while time.perf_counter() - began < seconds:
            x, _ = next(batches)
            windows += len(x)
        return windows / (time.perf_counter() - began)


def baseline_catalog(db: str, data_dir: Path, genome: Path, files: list[Path]) -> None:
    """A catalog of the genome (its rows copied from this tree's catalog) and ``files``."""
    from peaksql.server.catalog.database import open_database
    from peaksql.server.catalog.schema import assemblies, chromosomes
    from peaksql.server.ingest.intervals import add_data_files
    from tests.benchmarks.genome import HG38, NAMES

    (data_dir / "genomes").mkdir(parents=True, exist_ok=True)
    os.link(genome, data_dir / "genomes" / genome.name)
    engine = open_database(db)
    offsets = [sum(HG38[:k]) for k in range(len(HG38))]
    with engine.begin() as connection:
        assembly_id = connection.execute(
            assemblies.insert().values(
                name="hg38sim",
                species="human",
                length=sum(HG38),
                store_file=f"genomes/{genome.name}",
            )
        ).inserted_primary_key[0]
        connection.execute(chromosomes.insert(), [
            {"assembly_id": assembly_id, "name": n, "length": length, "offset": o}
            for n, length, o in zip(NAMES, HG38, offsets, strict=True)])  # fmt: skip
    add_data_files(engine, files, "hg38sim", progress=False)


#: This script, as ``python -m`` runs it in another venv.
MODULE = "tests.benchmarks.bench_store_remote"


class Server:
    """``peaksql serve`` in a subprocess of ``python``; ``private_mb`` reads its RssAnon."""

    def __init__(self, python: str, db: str, data_dir: Path) -> None:
        command = [python, "-m", "peaksql.server.cli", "serve", "--port", "0", "--db", db,
                   "--data-dir", str(data_dir), "--log-format", "text", "--grace", "0"]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            match = _SERVING.search(line)
            if match:
                self.address = f"{match.group(1)}:{match.group(2)}"
                return
        raise RuntimeError(f"peaksql serve ({python}) exited before serving")

    def private_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"RssAnon:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]

    def rate(self, python: str, conditions: list[str]) -> float:
        """windows/s measured by a client process of ``python``."""
        out = subprocess.run(
            [python, "-m", MODULE, "client", self.address, *conditions],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return float(out.stdout.strip().splitlines()[-1])

    def close(self) -> None:
        self.process.kill()
        self.process.wait(10)


def main() -> None:
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "client":
        print(client_rate(rest[0], rest[1:]))
    elif command == "baseline-catalog":
        baseline_catalog(rest[0], Path(rest[1]), Path(rest[2]), [Path(p) for p in rest[3:]])
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
