"""The genome store against pyfaidx: random FASTA (plain and BGZF) -> store file -> letters.

pyfaidx is the oracle for what a FASTA holds; the BGZF files come from ``tests.helpers``
(zlib only), so the writer under test, the compressed input and the oracle share no code.
"""

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

from peaksql.alphabet import decode
from peaksql.errors import AlreadyExists, InputFileError, InvalidArgument
from peaksql.server.db.engine import open_database
from peaksql.server.db.schema import assemblies, chromosomes
from peaksql.server.genome import GenomeStore, write_store
from peaksql.server.ingest.assembly import add_assembly
from tests.helpers import bgzf, random_sequence, write_fasta

EXAMPLE_FASTA = Path(__file__).resolve().parents[1] / "server" / "example" / "genome.fa"
_IUPAC = "ACGTRYSWKMBDHVN"
_LETTERS = _IUPAC + _IUPAC.lower() + "-"


def oracle(path: Path, index_dir: Path) -> dict[str, str]:
    """Every sequence of ``path`` as pyfaidx reads it, index files kept in ``index_dir``."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with pyfaidx.Fasta(
        str(path),
        indexname=str(index_dir / "oracle.fai"),
        gzi_indexname=str(index_dir / "oracle.gzi"),
        sequence_always_upper=False,
    ) as fasta:
        return {name: str(fasta[name][:]) for name in fasta.records}


def snapshot(engine: sa.Engine, data_dir: Path) -> tuple:
    """Catalog rows and data-dir files: what a failed ingest must leave unchanged."""
    with engine.connect() as connection:
        rows = tuple(
            tuple(map(tuple, connection.execute(sa.select(table).order_by(table.c.id))))
            for table in (assemblies, chromosomes)
        )
    return rows, sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*"))


# --- write_store: the property -------------------------------------------------------------

_segments = st.one_of(
    st.text(_LETTERS, max_size=500),
    st.builds(lambda letter, n: letter * n, st.sampled_from("Nn-"), st.integers(1, 1200)),
)
_sequences = st.lists(_segments, max_size=6).map(lambda parts: "".join(parts)[:3000])
_genomes = st.lists(
    st.tuples(
        st.text(string.ascii_letters + string.digits + "._|-", min_size=1, max_size=10),
        _sequences,
        st.integers(1, 80),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda record: record[0],
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(genome=_genomes)
def test_store_holds_what_pyfaidx_reads(genome):
    records = [(name, sequence) for name, sequence, _ in genome]
    widths = [width for *_, width in genome]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for bgzip in (False, True):
            fasta = write_fasta(
                root / ("g.fa.gz" if bgzip else "g.fa"), records, widths, bgzip=bgzip
            )
            out = root / f"store-{bgzip}.u8"
            written = write_store(fasta, out, progress=False)
            store = np.fromfile(out, dtype=np.uint8)
            expected = oracle(fasta, root / f"index-{bgzip}")
            offset = 0
            assert [r.name for r in written] == [name for name, _ in records]
            for record, (name, sequence) in zip(written, records, strict=True):
                assert (record.length, record.offset) == (len(sequence), offset)
                text = decode(store[record.offset : record.offset + record.length])
                assert text == expected[name] == sequence
                offset += record.length
            assert store.size == offset


# --- add_assembly on both databases --------------------------------------------------------


@pytest.mark.parametrize("bgzip", [False, True], ids=["plain", "bgzip"])
def test_add_assembly_rows_and_windows_match_pyfaidx(db_url, data_dir, tmp_path, bgzip):
    rng = np.random.default_rng(17)
    records = [(f"chr{k}", random_sequence(rng, int(rng.integers(0, 5000)))) for k in range(4)]
    records.append(("chrM", random_sequence(rng, 70_000)))  # spans several BGZF blocks
    fasta = write_fasta(tmp_path / ("g.fa.gz" if bgzip else "g.fa"), records, 61, bgzip=bgzip)
    engine = open_database(db_url)
    info = add_assembly(engine, data_dir, fasta, "hg", "human", progress=False)
    assert (info.length, info.num_chromosomes) == (sum(len(s) for _, s in records), 5)

    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(chromosomes.c.name, chromosomes.c.length, chromosomes.c.offset)
            .join(assemblies)
            .where(assemblies.c.name == "hg")
            .order_by(chromosomes.c.id)
        ).all()
    expected = oracle(fasta, tmp_path / "index")
    assert [(name, length) for name, length, _ in rows] == [
        (name, len(text)) for name, text in expected.items()
    ]
    genome = GenomeStore(data_dir).open(info.store_file)
    for name, length, offset in rows:
        for _ in range(20):
            start = int(rng.integers(0, length + 1))
            end = int(rng.integers(start, length + 1))
            assert decode(genome[offset + start : offset + end]) == expected[name][start:end]
    engine.dispose()


def test_example_genome_matches_pyfaidx(data_dir, tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'catalog.db'}")
    info = add_assembly(engine, data_dir, EXAMPLE_FASTA, "example", progress=False)
    expected = oracle(EXAMPLE_FASTA, tmp_path / "index")
    genome = GenomeStore(data_dir).open(info.store_file)
    assert info.length == genome.size == sum(len(s) for s in expected.values())
    rng = np.random.default_rng(3)
    offset = 0
    for text in expected.values():
        for start in [0, len(text) - 1000, *rng.integers(0, len(text) - 1000, size=10).tolist()]:
            assert decode(genome[offset + start : offset + start + 1000]) == text[start:][:1000]
        offset += len(text)
    engine.dispose()


# --- bad input ------------------------------------------------------------------------------


def _line_of(records: list[tuple[str, str]], width: int, record: int, position: int) -> int:
    """1-based line of base ``position`` of record ``record`` in ``fasta_text(records, width)``."""
    line = 1
    for _, sequence in records[:record]:
        line += 1 + -(-len(sequence) // width)
    return line + 1 + position // width


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    genome=st.lists(st.text(_LETTERS, min_size=1, max_size=400), min_size=1, max_size=3),
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
        fasta = write_fasta(Path(tmp) / "bad.fa", records, width, bgzip=bgzip)
        with pytest.raises(InputFileError) as caught:
            write_store(fasta, Path(tmp) / "out" / "g.u8", progress=False)
        line = _line_of(records, width, record, position)
        assert (caught.value.path, caught.value.line) == (str(fasta), line)
        assert str(caught.value).startswith(f"{fasta}, line {line}: ")
        assert repr(bad) in str(caught.value) and repr(name) in str(caught.value)
        assert not (Path(tmp) / "out" / "g.u8").exists()


BAD_FILES = {
    # name: (FASTA text, line, words of the problem)
    "duplicate sequence name": (">a\nACGT\nAC\n>b\nA\n>a second\nAC\n", 6, ["duplicate", "'a'"]),
    "empty file": ("", 1, ["'>name' header"]),
    "text without a header": ("ACGT\nACGT\n", 1, ["before the first", "header"]),
    "only a comment": (";just a comment\n", 1, ["no '>name' header"]),
    "inconsistent line lengths": (
        ">a\nAC\n>b\nACGT\nACGTAC\nACGT\nAC\n",
        5,
        ["line length", "'b'"],
    ),
    "short line inside": (">a\nACGT\nAC\nACGT\n", 3, ["line length", "'a'"]),
    "non-IUPAC on the third line of a sequence": (">a\nACGT\nACGT\nAC!T\nA\n", 4, ["'!'"]),
}


@pytest.mark.parametrize("bgzip", [False, True], ids=["plain", "bgzip"])
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_fasta_leaves_catalog_and_data_dir_unchanged(db_url, data_dir, tmp_path, case, bgzip):
    text, line, words = BAD_FILES[case]
    engine = open_database(db_url)
    add_assembly(
        engine, data_dir, write_fasta(tmp_path / "ok.fa", [("x", "ACGT")]), "ok", progress=False
    )
    before = snapshot(engine, data_dir)
    path = tmp_path / ("bad.fa.gz" if bgzip else "bad.fa")
    path.write_bytes(bgzf(text.encode()) if bgzip else text.encode())
    with pytest.raises(InputFileError) as caught:
        add_assembly(engine, data_dir, path, "bad", progress=False)
    assert str(caught.value).startswith(f"{path}, line {line}: ")
    for word in words:
        assert word in caught.value.problem
    assert snapshot(engine, data_dir) == before
    engine.dispose()


def test_duplicate_and_unsafe_assembly_names_change_nothing(db_url, data_dir, tmp_path):
    engine = open_database(db_url)
    fasta = write_fasta(tmp_path / "g.fa", [("chr1", "ACGTN" * 20)])
    add_assembly(engine, data_dir, fasta, "hg38", progress=False)
    before = snapshot(engine, data_dir)
    with pytest.raises(AlreadyExists, match="'hg38' already exists"):
        add_assembly(engine, data_dir, fasta, "hg38", progress=False)
    for unsafe in ["../escape", "a/b", ".hidden", "-flag", "", "a b", "x" * 200]:
        with pytest.raises(InvalidArgument) as caught:
            add_assembly(engine, data_dir, fasta, unsafe, progress=False)
        assert repr(unsafe) in str(caught.value)
    assert snapshot(engine, data_dir) == before
    assert not (data_dir.parent / "escape.u8").exists()
    engine.dispose()


# --- memory ---------------------------------------------------------------------------------

_MEASURE = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from peaksql.server.genome import write_store
    folder = Path(sys.argv[1])
    (folder / "warm.fa").write_text(">a\\nACGT\\n")
    write_store(folder / "warm.fa", folder / "warm.u8", progress=False)  # imports, first use
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    write_store(folder / "big.fa", folder / "big.u8", progress=False)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) * 1024)  # ru_maxrss is in KiB on Linux
    """
)


def _write_big_fasta(path: Path, num_bases: int, width: int = 60) -> None:
    """A FASTA of random ACGTN in 10 Mbp records, written a record at a time."""
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"ACGTNacgt", dtype=np.uint8)
    newline = np.uint8(ord("\n"))
    with path.open("wb") as out:
        for k in range(0, num_bases, 10_000_000):
            bases = rng.choice(letters, size=min(10_000_000, num_bases - k))
            out.write(f">chr{k // 10_000_000 + 1}\n".encode())
            full = bases.size // width * width
            lines = np.column_stack(
                [bases[:full].reshape(-1, width), np.full(full // width, newline)]
            )
            out.write(lines.tobytes())
            if bases.size > full:
                out.write(bases[full:].tobytes() + b"\n")


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units differ off Linux")
def test_write_store_memory_stays_far_below_genome_size(tmp_path):
    num_bases = 40_000_000
    _write_big_fasta(tmp_path / "big.fa", num_bases)
    child = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    growth = int(child.stdout.strip())
    assert (tmp_path / "big.u8").stat().st_size == num_bases
    assert growth < num_bases / 5, f"peak RSS grew {growth / 2**20:.1f} MiB"
