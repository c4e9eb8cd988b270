"""Genomes as labs have them: plain gzip, 2bit, CR/CRLF line ends, a BOM; truncated files,
long headers and failed writes refused in one line with nothing stored; killed ingests swept.
Stores are checked against pyfaidx on the equivalent plain LF FASTA (and py2bit for 2bit).
"""

from __future__ import annotations

import errno
import gzip
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaksql.core.alphabet import decode
from peaksql.core.errors import InputFileError
from peaksql.server.catalog.database import open_database
from peaksql.server.ingest.assembly import add_assembly
from peaksql.server.ingest.genome_writer import write_store
from peaksql.server.ingest.scratch import WriteError, sweep
from tests.fasta_util import bgzf_bytes, fasta_text, write_fasta
from tests.test_genome import files_under, pyfaidx_reads, table_rows
from tests.twobit_util import write_twobit

_NAMES = st.text("abcXYZ0123_.", min_size=1, max_size=8)
_ACGTN = st.lists(
    st.one_of(
        st.text("ACGTacgt", min_size=1, max_size=300),
        st.builds(lambda c, n: c * n, st.sampled_from("Nn"), st.integers(1, 700)),
    ),
    min_size=1,
    max_size=5,
).map("".join)
_GENOMES = st.lists(st.tuples(_NAMES, _ACGTN), min_size=1, max_size=4, unique_by=lambda r: r[0])


def stored(out: Path, records) -> dict[str, str]:
    store = np.fromfile(out, np.uint8)
    return {r.name: decode(store[r.offset : r.offset + r.length]) for r in records}


# --- plain gzip, CR, CRLF, BOM: the same store as the plain LF file ----------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    genome=_GENOMES,
    width=st.integers(1, 90),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    packing=st.sampled_from(["plain", "gzip", "bgzip"]),
    block=st.sampled_from([3, 64, 1 << 22]),
)
def test_every_encoding_gives_the_store_pyfaidx_reads(genome, width, newline, bom, packing, block):
    text = ("\ufeff" if bom else "") + fasta_text(genome, width, newline=newline)
    data = text.encode()
    data = {"plain": data, "gzip": gzip.compress(data), "bgzip": bgzf_bytes(data)}[packing]
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr("peaksql.server.ingest.text_blocks.BLOCK_BYTES", block)
        root = Path(tmp)
        fasta = root / "in.fa"
        fasta.write_bytes(data)
        records = write_store(fasta, root / "g.u8", progress=False)
        oracle = pyfaidx_reads(write_fasta(root / "lf.fa", fasta_text(genome, 60)), root / "o")
        assert [r.name for r in records] == [name for name, _ in genome]
        assert stored(root / "g.u8", records) == oracle == dict(genome)


def test_ucsc_style_plain_gzip_is_streamed(tmp_path):
    """hg38.fa.gz is plain gzip (not bgzip), several members possibly: read as it is."""
    genome = [("chr1", "ACGTNacgtn" * 500), ("chrM", "GATTACA" * 30)]
    text = fasta_text(genome, 50).encode()
    fasta = tmp_path / "hg.fa.gz"
    fasta.write_bytes(gzip.compress(text[:3001]) + gzip.compress(text[3001:]))
    records = write_store(fasta, tmp_path / "g.u8", progress=False)
    assert stored(tmp_path / "g.u8", records) == dict(genome)
    assert files_under(tmp_path) == ["g.u8", "hg.fa.gz"]


# --- 2bit ----------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(genome=_GENOMES, chunk=st.sampled_from([1, 5, 1 << 22]))
def test_twobit_store_equals_the_fasta_store(genome, chunk):
    """Soft-masking and N blocks (an n inside a masked run included) survive as in FASTA."""
    import py2bit

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr("peaksql.server.ingest.genome_writer.CHUNK_BASES", chunk)
        root = Path(tmp)
        twobit = write_twobit(root / "genome.fa", genome)  # a lying name: content decides
        records = write_store(twobit, root / "g.u8", progress=False)
        oracle = pyfaidx_reads(write_fasta(root / "g.fa", fasta_text(genome)), root / "o")
        assert stored(root / "g.u8", records) == oracle == dict(genome)
        with_py2bit = py2bit.open(str(twobit), True)
        for record in records:  # py2bit writes masked N as 'N': compare N case-blind
            theirs = with_py2bit.sequence(record.name, 0, record.length)
            assert theirs == oracle[record.name].replace("n", "N")
        with_py2bit.close()


def test_truncated_twobit_is_one_clear_error(tmp_path):
    twobit = write_twobit(tmp_path / "g.2bit", [("a", "ACGT" * 100)])
    twobit.write_bytes(twobit.read_bytes()[:-30])
    with pytest.raises(InputFileError, match=r"g\.2bit: truncated 2bit file$"):
        write_store(twobit, tmp_path / "out" / "g.u8", progress=False)
    assert list((tmp_path / "out").iterdir()) == []


# --- bad files: one line naming the file ---------------------------------------------------------


_RANDOM_FASTA = fasta_text(
    [("a", "".join(np.random.default_rng(0).choice(list("ACGT"), 200_000)))]
).encode()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (gzip.compress(_RANDOM_FASTA)[:-100], "the gzip data is truncated"),
        (bgzf_bytes(_RANDOM_FASTA)[:-100], "gzip data is"),
        (bgzf_bytes(_RANDOM_FASTA)[:-28], "BGZF end-of-file block is missing"),
        (gzip.compress(b">a\nACGT\n")[:10] + b"\xff" * 50, "the gzip data is corrupt"),
    ],
    ids=["gzip cut", "bgzip cut in a block", "bgzip cut at a block", "corrupt"],
)
def test_truncated_compressed_fasta(tmp_path, data, problem):
    fasta = tmp_path / "g.fa.gz"
    fasta.write_bytes(data)
    with pytest.raises(InputFileError) as caught:
        write_store(fasta, tmp_path / "out" / "g.u8", progress=False)
    message = str(caught.value)
    assert message.startswith(f"{fasta}: ") and problem in message and "\n" not in message
    assert list((tmp_path / "out").iterdir()) == []


def test_huge_header_refused_at_the_bound_with_flat_memory(tmp_path):
    fasta = tmp_path / "g.fa"
    with fasta.open("wb") as out:
        out.write(b">" + b"x" * (64 << 20) + b"\nACGT\n")
    started = time.perf_counter()
    with pytest.raises(InputFileError) as caught:
        write_store(fasta, tmp_path / "g.u8", progress=False)
    assert time.perf_counter() - started < 5
    assert str(caught.value) == f"{fasta}, line 1: header line longer than 1,048,576 bytes"


# --- failed writes: one message, nothing stored, exit 2 ------------------------------------------


def test_disk_full_while_writing_the_store(db_url, data_dir, tmp_path, monkeypatch):
    engine = open_database(db_url)
    before = table_rows(engine)
    fasta = write_fasta(tmp_path / "g.fa", fasta_text([("a", "ACGT" * 1000)]))

    def full(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("peaksql.server.ingest.genome_writer._write_codes", full)
    with pytest.raises(WriteError) as caught:
        add_assembly(engine, data_dir, fasta, "hg", progress=False)
    message = str(caught.value)
    assert message.startswith(f"{fasta}: cannot write {data_dir / 'tmp'}")
    assert "No space left on device" in message and "\n" not in message
    assert table_rows(engine) == before
    assert files_under(data_dir) == ["tmp"]
    engine.dispose()


_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from peaksql.server.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_cli_file_size_limit_is_one_line_exit_2(tmp_path):
    data_dir, db = tmp_path / "data", tmp_path / "c.db"
    env = {**os.environ, "PEAKSQL_DATA_DIR": str(data_dir), "PEAKSQL_DB": str(db)}
    subprocess.run([sys.executable, "-m", "peaksql.server.cli", "migrate"], env=env, check=True)
    fasta = write_fasta(tmp_path / "g.fa", fasta_text([("a", "ACGT" * 500_000)]))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _LIMITED,
            str(1 << 20),
            "add-assembly",
            str(fasta),
            "--name",
            "g",
            "-q",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"peaksql add-assembly: error: {fasta}: cannot write")
    assert "File too large" in lines[0]
    engine = sa.create_engine(f"sqlite:///{db}")
    assert table_rows(engine)["assemblies"] == []
    engine.dispose()
    assert files_under(data_dir) == ["tmp"]


# --- kill -9 mid-ingest, then the sweep ----------------------------------------------------------


def _slow_big_gzip(path: Path) -> None:
    """~1.5 GB of FASTA in a few MB of gzip: long to ingest, quick to write."""
    line = b"ACGTACGTAC" * 6 + b"\n"
    member = gzip.compress(line * (1 << 20), compresslevel=1)  # 61 MiB of text
    with path.open("wb") as out:
        out.write(gzip.compress(b">big\n"))
        for _ in range(25):
            out.write(member)


@pytest.mark.slow
def test_kill_9_mid_ingest_leaves_scratch_that_the_next_run_sweeps(tmp_path):
    data_dir, db = tmp_path / "data", tmp_path / "c.db"
    env = {**os.environ, "PEAKSQL_DATA_DIR": str(data_dir), "PEAKSQL_DB": str(db)}
    fasta = tmp_path / "big.fa.gz"
    _slow_big_gzip(fasta)
    cli = [sys.executable, "-m", "peaksql.server.cli"]
    ingest = subprocess.Popen([*cli, "add-assembly", str(fasta), "--name", "big", "-q"], env=env)
    try:
        deadline = time.monotonic() + 120
        while not any(p.suffix == ".partial" and p.stat().st_size for p in _tmp_files(data_dir)):
            assert ingest.poll() is None and time.monotonic() < deadline, "ingest ended early"
            time.sleep(0.05)
        os.kill(ingest.pid, signal.SIGKILL)
    finally:
        ingest.wait()
    assert ingest.returncode == -signal.SIGKILL
    leftovers = _tmp_files(data_dir)
    assert leftovers and all("tmp" in p.parts for p in leftovers)
    assert not (data_dir / "genomes" / "big.u8").exists()

    migrate = subprocess.run([*cli, "migrate"], env=env, capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr
    assert "removed 1 leftover" in migrate.stdout
    assert files_under(data_dir) == ["tmp"]
    assert sweep(data_dir) == []


def _tmp_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "tmp").rglob("*") if p.is_file()] if data_dir.exists() else []


def test_sweep_spares_a_running_ingest(tmp_path):
    """A scratch folder whose lock is held (an ingest running beside) is never swept."""
    from peaksql.server.ingest.scratch import scratch_folder

    with scratch_folder(tmp_path) as mine:
        (mine / "staging.u8").write_bytes(b"x")
        assert sweep(tmp_path) == []
        assert (mine / "staging.u8").exists()
    assert list((tmp_path / "tmp").iterdir()) == []
