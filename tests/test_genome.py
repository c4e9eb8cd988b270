"""Genome store and assembly ingest, checked against the generated sequences and pyfaidx reads."""

from __future__ import annotations

import string
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pyfaidx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaksql.core.alphabet import IUPAC_LETTERS, decode
from peaksql.core.errors import AlreadyExists, InputFileError, InvalidArgument, NotFound
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.parts import insert_part
from peaksql.server.catalog.schema import assemblies, chromosomes, conditions, intervals
from peaksql.server.ingest.assembly import add_assembly, remove_assembly
from peaksql.server.ingest.genome_writer import write_store
from tests.fasta_util import fasta_text, write_fasta

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "server" / "example"
TABLES = (assemblies, chromosomes, conditions, intervals)


def pyfaidx_reads(path: Path, index_dir: Path) -> dict[str, str]:
    """Every sequence of ``path`` as pyfaidx reads it (index kept out of the FASTA's folder)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with pyfaidx.Fasta(
        str(path),
        indexname=str(index_dir / "oracle.fai"),
        gzi_indexname=str(index_dir / "oracle.gzi"),
    ) as fasta:
        return {name: str(fasta[name][:]) for name in fasta.records}


def table_rows(engine: sa.Engine) -> dict[str, list[tuple]]:
    with engine.connect() as connection:
        return {
            table.name: sorted(
                tuple(row) for row in connection.execute(sa.select(*table.c).order_by(*table.c))
            )
            for table in TABLES
        }


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --- write_store: the property --------------------------------------------------------------

_NAMES = st.text(string.ascii_letters + string.digits + "_.|:-", min_size=1, max_size=12)
_SEGMENT = st.one_of(
    st.text(IUPAC_LETTERS, max_size=400),
    st.builds(lambda letter, n: letter * n, st.sampled_from("Nn-"), st.integers(1, 1500)),
)
_SEQUENCE = st.lists(_SEGMENT, min_size=1, max_size=6).map(
    lambda parts: "".join(parts)[:3000] or "N"
)
_GENOMES = st.lists(_NAMES, min_size=1, max_size=5, unique=True).flatmap(
    lambda names: st.lists(
        st.tuples(_SEQUENCE, st.integers(1, 80)), min_size=len(names), max_size=len(names)
    ).map(lambda rows: [(name, seq, width) for name, (seq, width) in zip(names, rows, strict=True)])
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(genome=_GENOMES, newline=st.sampled_from(["\n", "\r\n"]))
def test_store_equals_fasta_plain_and_bgzip(genome, newline):
    text = fasta_text(
        [(name, seq) for name, seq, _ in genome], [w for *_, w in genome], newline=newline
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stores = []
        for bgzip in (False, True):
            folder = root / ("bgzip" if bgzip else "plain")
            folder.mkdir()
            fasta = write_fasta(folder / ("g.fa.gz" if bgzip else "g.fa"), text, bgzip=bgzip)
            out = root / "genomes" / f"{folder.name}.u8"
            records = write_store(fasta, out, progress=False)
            assert files_under(folder) == [fasta.name]  # no index left beside the FASTA
            store = np.fromfile(out, np.uint8)
            oracle = pyfaidx_reads(fasta, root / f"oracle-{folder.name}")

            assert [r.name for r in records] == [name for name, *_ in genome]
            offset = 0
            for record, (name, seq, _) in zip(records, genome, strict=True):
                assert (record.length, record.offset) == (len(seq), offset)
                stored = decode(store[record.offset : record.offset + record.length])
                assert stored == seq == oracle[name]
                offset += len(seq)
            assert store.size == offset
            stores.append(store)
        assert np.array_equal(stores[0], stores[1])
        assert sorted(p.name for p in (root / "genomes").iterdir()) == ["bgzip.u8", "plain.u8"]


def test_bgzip_without_gz_suffix_and_plain_with_it(tmp_path):
    """The file's first bytes, not its name, decide whether it is compressed."""
    text = fasta_text([("a", "ACGTN" * 300), ("b", "acgt")], 70)
    for name, bgzip in (("bgzip.fa", True), ("plain.fa.gz", False)):
        fasta = write_fasta(tmp_path / name, text, bgzip=bgzip)
        records = write_store(fasta, tmp_path / f"{name}.u8", progress=False)
        store = np.fromfile(tmp_path / f"{name}.u8", np.uint8)
        assert [(r.name, r.length, r.offset) for r in records] == [("a", 1500, 0), ("b", 4, 1500)]
        assert decode(store) == "ACGTN" * 300 + "acgt"


def test_chunks_join_seamlessly(tmp_path, monkeypatch):
    """Tiny blocks: every block boundary (mid-line, at line ends, in headers) joins exactly."""
    monkeypatch.setattr("peaksql.server.ingest.text_blocks.BLOCK_BYTES", 7)
    rng = np.random.default_rng(1)
    seqs = [(f"s{n}", "".join(rng.choice(list(IUPAC_LETTERS), size=n))) for n in (1, 7, 50, 301)]
    fasta = write_fasta(tmp_path / "g.fa", fasta_text(seqs, 13))
    records = write_store(fasta, tmp_path / "g.u8", progress=False)
    store = np.fromfile(tmp_path / "g.u8", np.uint8)
    for record, (_, seq) in zip(records, seqs, strict=True):
        assert decode(store[record.offset : record.offset + record.length]) == seq


# --- write_store: bad input --------------------------------------------------------------------

BAD_FASTAS = {
    # case: (text, line, words the problem must contain)
    "non-IUPAC letter": (">a\nACGT\nAC\n>b\nACGT\nAXGT\nA\n", 6, ["'X'", "'b'", "IUPAC"]),
    "space in a sequence line": (">a\nACGT\nAC T\n", 3, ["' '", "'a'", "IUPAC"]),
    "digit": (">chr1\n" + "ACGT" * 30 + "\n" + "AC1T\n", 3, ["'1'", "'chr1'"]),
    "non-ASCII letter": (">a\nACGT\nACéT\n", 3, ["'é'", "'a'"]),
    "duplicate name": (">a\nACGT\n>b\nAC\n>a x\nA\n", 5, ["duplicate", "'a'"]),
    "empty file": ("", 1, ["no sequence"]),
    "no header at all": (";comment\n\n", 1, ["no sequence"]),
    "text before the first header": ("ACGT\n>a\nA\n", 1, ["before the first"]),
    "header without a name": (">a\nA\n>\nAC\n", 3, ["without a name"]),
    "header only": (">a\n", 1, ["'a'", "no bases"]),
    "header then header": (">a\n>b\nACGT", 1, ["'a'", "no bases"]),
    "empty last record": (">a\nAC\n>b\n\n", 3, ["'b'", "no bases"]),
    "name too long": (">" + "x" * 300 + " desc\nACGT\n", 1, ["300 characters", "at most 255"]),
    "header not UTF-8": (b">a\xff\nACGT\n", 1, ["byte 0xff", "not UTF-8"]),
    "binary file": ("\x00\x01BAM\n", 1, ["binary data", "FASTA"]),
}


@pytest.mark.parametrize("bgzip", [False, True], ids=["plain", "bgzip"])
@pytest.mark.parametrize("case", sorted(BAD_FASTAS))
def test_bad_fasta_names_file_line_problem(tmp_path, case, bgzip):
    text, line, words = BAD_FASTAS[case]
    fasta = write_fasta(tmp_path / ("bad.fa.gz" if bgzip else "bad.fa"), text, bgzip=bgzip)
    out = tmp_path / "out" / "g.u8"
    with pytest.raises(InputFileError) as caught:
        write_store(fasta, out, progress=False)
    error = caught.value
    assert (error.path, error.line) == (str(fasta), line)
    message = str(error)
    assert message.startswith(f"{fasta}, line {line}: ")
    for word in words:
        assert word in message
    # no partial store file, no index beside the FASTA
    assert set(files_under(tmp_path)) <= {fasta.name, "out"}


def test_bad_letter_deep_in_a_long_sequence(tmp_path, monkeypatch):
    """The line is exact when the bad letter is many blocks and lines into a sequence."""
    monkeypatch.setattr("peaksql.server.ingest.text_blocks.BLOCK_BYTES", 1000)
    seq = list("ACGT" * 5000)
    seq[12_345] = "U"
    fasta = write_fasta(tmp_path / "g.fa", fasta_text([("a", "AC"), ("b", "".join(seq))], 60))
    with pytest.raises(InputFileError) as caught:
        write_store(fasta, tmp_path / "g.u8", progress=False)
    # lines: 1 '>a', 2 'AC', 3 '>b', then base 12345 is on line 4 + 12345 // 60
    assert caught.value.line == 4 + 12_345 // 60
    assert f"'U' (column {12_345 % 60 + 1})" in str(caught.value)


def test_line_layout_is_free(tmp_path):
    """Unequal line lengths and blank lines (which an index would refuse) are read as is."""
    text = ">a\nACGT\nAC\nACGTACGT\n\n\n>b\n\nA\n\n"
    fasta = write_fasta(tmp_path / "g.fa", text)
    records = write_store(fasta, tmp_path / "g.u8", progress=False)
    assert [(r.name, r.length) for r in records] == [("a", 14), ("b", 1)]
    assert decode(np.fromfile(tmp_path / "g.u8", np.uint8)) == "ACGTACACGTACGTA"


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        write_store(tmp_path / "absent.fa", tmp_path / "g.u8", progress=False)


# --- GenomeStore ---------------------------------------------------------------------------------


def test_genome_store_memmap_is_read_only_cached_and_sliced_without_copy(tmp_path):
    data_dir = tmp_path / "data"
    store = GenomeStore(data_dir)
    path = store.store_path("hg")
    assert path == data_dir / "genomes" / "hg.u8"
    fasta = write_fasta(tmp_path / "g.fa", fasta_text([("a", "ACGTACGTNN"), ("b", "ttrry")]))
    write_store(fasta, path, progress=False)

    assert path.stat().st_mode & 0o777 == 0o644  # readable by a server running as another user
    genome = store.open("genomes/hg.u8")
    assert isinstance(genome, np.memmap) and genome.dtype == np.uint8
    assert not genome.flags.writeable
    assert store.open("genomes/hg.u8") is genome
    window = store.fetch("genomes/hg.u8", 10, 1, 4)
    assert decode(window) == "trr"
    assert np.shares_memory(window, genome)
    with pytest.raises(FileNotFoundError, match="missing"):
        store.open("genomes/other.u8")


def test_genome_store_maps_a_replaced_file_afresh(tmp_path):
    store = GenomeStore(tmp_path)
    first = write_fasta(tmp_path / "1.fa", fasta_text([("a", "AAAA")]))
    second = write_fasta(tmp_path / "2.fa", fasta_text([("a", "CCCCCC")]))
    write_store(first, store.store_path("x"), progress=False)
    assert decode(store.open("genomes/x.u8")) == "AAAA"
    store.store_path("x").unlink()
    write_store(second, store.store_path("x"), progress=False)
    assert decode(store.open("genomes/x.u8")) == "CCCCCC"


def test_records_without_bases_are_refused(tmp_path):
    store = GenomeStore(tmp_path)
    fasta = write_fasta(tmp_path / "g.fa", ">a\n>b\n")
    with pytest.raises(InputFileError, match=r"g.fa, line 1: sequence 'a' has no bases"):
        write_store(fasta, store.store_path("e"), progress=False)
    assert not store.store_path("e").exists()


# --- add_assembly / remove_assembly --------------------------------------------------------------


def random_fasta(folder: Path, seed: int, bgzip: bool = False) -> tuple[Path, dict[str, str]]:
    rng = np.random.default_rng(seed)
    seqs = {
        f"chr{i}": "".join(rng.choice(list("ACGTNacgtn"), size=int(rng.integers(1, 5000))))
        for i in (3, 1, 2, 10)  # not sorted: rows must keep FASTA order
    }
    name = "genome.fa.gz" if bgzip else "genome.fa"
    return write_fasta(folder / name, fasta_text(seqs.items(), 61), bgzip=bgzip), seqs


@pytest.mark.parametrize("bgzip", [False, True], ids=["plain", "bgzip"])
def test_add_assembly_rows_and_windows_match_pyfaidx(db_url, data_dir, tmp_path, bgzip):
    engine = open_database(db_url)
    fasta, seqs = random_fasta(tmp_path, seed=3, bgzip=bgzip)
    info = add_assembly(engine, data_dir, fasta, "hg-test.1", "human", progress=False)

    total = sum(map(len, seqs.values()))
    assert (info.name, info.species, info.length, info.num_chromosomes) == (
        "hg-test.1",
        "human",
        total,
        4,
    )
    assert info.store_file == "genomes/hg-test.1.u8"
    assert files_under(data_dir) == ["genomes", "genomes/hg-test.1.u8", "tmp"]
    with engine.connect() as connection:
        row = connection.execute(sa.select(assemblies)).one()
        rows = connection.execute(
            sa.select(chromosomes.c.name, chromosomes.c.length, chromosomes.c.offset)
            .where(chromosomes.c.assembly_id == row.id)
            .order_by(chromosomes.c.id)
        ).all()
    assert (row.name, row.species, row.length, row.store_file) == (
        "hg-test.1",
        "human",
        total,
        "genomes/hg-test.1.u8",
    )
    assert [(r.name, r.length) for r in rows] == [(n, len(s)) for n, s in seqs.items()]

    oracle = pyfaidx_reads(fasta, tmp_path / "oracle")
    genome = GenomeStore(data_dir).open(row.store_file)
    rng = np.random.default_rng(0)
    for r in rows:
        for _ in range(20):
            start = int(rng.integers(0, r.length))
            end = int(rng.integers(start, r.length + 1))
            window = genome[r.offset + start : r.offset + end]
            assert decode(window) == oracle[r.name][start:end] == seqs[r.name][start:end]
    engine.dispose()


@pytest.mark.parametrize(
    "case", ["non-IUPAC letter", "duplicate name", "empty file", "header then header"]
)
def test_add_assembly_bad_fasta_changes_nothing(db_url, data_dir, tmp_path, case):
    engine = open_database(db_url)
    good, _ = random_fasta(tmp_path, seed=1)
    add_assembly(engine, data_dir, good, "existing", progress=False)
    before, files_before = table_rows(engine), files_under(data_dir)

    text, line, words = BAD_FASTAS[case]
    fasta = write_fasta(tmp_path / "bad.fa", text)
    with pytest.raises(InputFileError) as caught:
        add_assembly(engine, data_dir, fasta, "new", progress=False)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"{fasta}, line {line}: ")
    assert all(word in str(caught.value) for word in words)
    assert table_rows(engine) == before
    assert files_under(data_dir) == files_before
    engine.dispose()


def test_add_assembly_taken_name_changes_nothing(db_url, data_dir, tmp_path):
    engine = open_database(db_url)
    fasta, _ = random_fasta(tmp_path, seed=2)
    add_assembly(engine, data_dir, fasta, "hg38", progress=False)
    before, files_before = table_rows(engine), files_under(data_dir)
    store_bytes = (data_dir / "genomes" / "hg38.u8").read_bytes()
    other = write_fasta(tmp_path / "other.fa", fasta_text([("z", "ACGT")]))
    with pytest.raises(AlreadyExists, match="'hg38'"):
        add_assembly(engine, data_dir, other, "hg38", progress=False)
    assert table_rows(engine) == before
    assert files_under(data_dir) == files_before
    assert (data_dir / "genomes" / "hg38.u8").read_bytes() == store_bytes
    engine.dispose()


@pytest.mark.parametrize(
    "name", ["", "../up", "a/b", ".hidden", "-flag", "hg38\n", "a b", "x" * 129]
)
def test_add_assembly_unsafe_name(tmp_path, data_dir, name):
    engine = open_database(f"sqlite:///{tmp_path / 'c.db'}")
    fasta, _ = random_fasta(tmp_path, seed=4)
    with pytest.raises(InvalidArgument, match="assembly name"):
        add_assembly(engine, data_dir, fasta, name, progress=False)
    assert files_under(data_dir) == []
    assert table_rows(engine)["assemblies"] == []


def test_add_assembly_database_failure_removes_store_file(db_url, data_dir, tmp_path):
    """A failure inside the transaction (injected on the chromosome insert) leaves nothing."""
    engine = open_database(db_url)
    fasta, _ = random_fasta(tmp_path, seed=5)

    def fail_on_chromosomes(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO CHROMOSOMES"):
            raise RuntimeError("injected failure")

    sa.event.listen(engine, "before_cursor_execute", fail_on_chromosomes)
    with pytest.raises(RuntimeError, match="injected"):
        add_assembly(engine, data_dir, fasta, "hg", progress=False)
    sa.event.remove(engine, "before_cursor_execute", fail_on_chromosomes)
    assert all(rows == [] for rows in table_rows(engine).values())
    assert files_under(data_dir) == ["genomes", "tmp"]
    add_assembly(engine, data_dir, fasta, "hg", progress=False)  # and the name is free again
    engine.dispose()


def _add_condition_with_intervals(engine: sa.Engine, assembly: str, condition: str) -> None:
    with engine.begin() as connection:
        assembly_id = connection.scalar(
            sa.select(assemblies.c.id).where(assemblies.c.name == assembly)
        )
        chromosome_id = connection.scalar(
            sa.select(chromosomes.c.id).where(chromosomes.c.assembly_id == assembly_id).limit(1)
        )
        condition_id = connection.execute(
            conditions.insert().values(name=condition)
        ).inserted_primary_key[0]
        insert_part(connection, condition_id, assembly_id, f"test-{condition}", 3)
        connection.execute(
            intervals.insert(),
            [
                {
                    "chromosome_id": chromosome_id,
                    "condition_id": condition_id,
                    "start": s,
                    "end": s + 5,
                }
                for s in (0, 10, 20)
            ],
        )


def test_remove_assembly_deletes_rows_and_store_file(db_url, data_dir, tmp_path):
    _check_remove_assembly(open_database(db_url), data_dir, tmp_path)


def test_remove_assembly_without_foreign_key_cascade(data_dir, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'no-fk.db'}"
    open_database(db_url).dispose()
    engine = sa.create_engine(db_url)  # no PRAGMA foreign_keys: no cascade
    _check_remove_assembly(engine, data_dir, tmp_path)


def _check_remove_assembly(engine, data_dir, tmp_path):
    fasta, _ = random_fasta(tmp_path, seed=6)
    add_assembly(engine, data_dir, fasta, "keep", progress=False)
    _add_condition_with_intervals(engine, "keep", "keep-peaks")
    before_keep = table_rows(engine)
    add_assembly(engine, data_dir, fasta, "drop", progress=False)
    _add_condition_with_intervals(engine, "drop", "drop-peaks")
    assert len(table_rows(engine)["intervals"]) == 6

    remove_assembly(engine, data_dir, "drop")
    assert table_rows(engine) == before_keep
    assert files_under(data_dir) == ["genomes", "genomes/keep.u8", "tmp"]
    with pytest.raises(NotFound, match="'drop'"):
        remove_assembly(engine, data_dir, "drop")
    engine.dispose()


# --- line numbers of bad letters, property-tested -------------------------------------------

_STORE_LETTERS = "ACGTRYSWKMBDHVNacgtryswkmbdhvn-"


def _line_of(records: list[tuple[str, str]], width: int, record: int, position: int) -> int:
    """1-based line of base ``position`` of record ``record`` in ``fasta_text(records, width)``."""
    line = 1
    for _, sequence in records[:record]:
        line += 1 + -(-len(sequence) // width)
    return line + 1 + position // width


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    genome=st.lists(st.text(_STORE_LETTERS, min_size=1, max_size=400), min_size=1, max_size=3),
    width=st.integers(1, 70),
    bad=st.sampled_from("XJOUZ*0@.é"),
    where=st.tuples(st.integers(0, 10), st.integers(0, 10_000)),
    bgzip=st.booleans(),
)
def test_non_iupac_character_is_reported_on_its_line(genome, width, bad, where, bgzip):
    records = [(f"s{k}", sequence) for k, sequence in enumerate(genome)]
    record = where[0] % len(records)
    name, sequence = records[record]
    position = where[1] % len(sequence)
    records[record] = (name, sequence[:position] + bad + sequence[position + 1 :])
    with tempfile.TemporaryDirectory() as tmp:
        fasta = write_fasta(Path(tmp) / "bad.fa", fasta_text(records, width), bgzip=bgzip)
        with pytest.raises(InputFileError) as caught:
            write_store(fasta, Path(tmp) / "out" / "g.u8", progress=False)
        line = _line_of(records, width, record, position)
        assert (caught.value.path, caught.value.line) == (str(fasta), line)
        assert str(caught.value).startswith(f"{fasta}, line {line}: ")
        assert repr(bad) in str(caught.value) and repr(name) in str(caught.value)
        assert not (Path(tmp) / "out" / "g.u8").exists()


# --- the bundled example and memory --------------------------------------------------------------


def test_example_genome_matches_pyfaidx(data_dir, tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'c.db'}")
    fasta = EXAMPLE_DIR / "genome.fa"
    info = add_assembly(engine, data_dir, fasta, "hg19-chr20", "human", progress=False)
    oracle = pyfaidx_reads(fasta, tmp_path / "oracle")
    assert (info.num_chromosomes, info.length) == (len(oracle), sum(map(len, oracle.values())))
    genome = GenomeStore(data_dir).open(info.store_file)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(chromosomes).order_by(chromosomes.c.id)).all()
    assert [r.name for r in rows] == list(oracle)
    rng = np.random.default_rng(7)
    for r in rows:
        assert decode(genome[r.offset : r.offset + r.length]) == oracle[r.name]
        for _ in range(10):
            start = int(rng.integers(0, r.length - 1000))
            assert (
                decode(genome[r.offset + start : r.offset + start + 1000])
                == oracle[r.name][start : start + 1000]
            )
    engine.dispose()


_MEMORY_PROBE = textwrap.dedent(
    """
    import re, sys
    from pathlib import Path
    from peaksql.server.ingest import genome_writer as genome

    def status_kib(field):
        text = Path("/proc/self/status").read_text()
        return int(re.search(field + r":\\s+(\\d+) kB", text).group(1))

    if len(sys.argv) > 3:
        genome.CHUNK_BASES = int(sys.argv[3])
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = status_kib("VmRSS")
    genome.write_store(Path(sys.argv[1]), Path(sys.argv[2]), progress=False)
    print((status_kib("VmHWM") - before) * 1024)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_write_store_memory_stays_far_below_genome_size(tmp_path):
    """Peak RSS growth of write_store on a 96 Mbp FASTA, measured in a fresh process.

    VmHWM after resetting it, not ru_maxrss: Linux carries ru_maxrss over from the parent
    across exec, and the parent just held the generated genome.
    """
    num_bases, width = 96 << 20, 64
    rng = np.random.default_rng(0)
    lines = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, num_bases, dtype=np.uint8)]
    lines = np.concatenate(
        [lines.reshape(-1, width), np.full((num_bases // width, 1), ord("\n"), np.uint8)], axis=1
    )
    fasta = tmp_path / "big.fa"
    with fasta.open("wb") as out:
        out.write(b">big\n")
        out.write(lines.tobytes())
    del lines
    probe = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(fasta), str(tmp_path / "big.u8")],
        capture_output=True,
        text=True,
        check=True,
    )
    growth = int(probe.stdout.strip())
    assert (tmp_path / "big.u8").stat().st_size == num_bases
    assert growth < num_bases // 4, f"peak RSS grew by {growth / 2**20:.0f} MiB"
