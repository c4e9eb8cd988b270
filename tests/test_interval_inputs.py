# ruff: noqa: F811 - the fixtures ``engine`` and ``populated`` come from test_ingest_intervals
"""Interval files as labs have them: chromosome aliases, unknown chromosomes skipped, ENCODE
narrowPeaks named .bed.gz, BOM and CR line ends, several files in one transaction; long
lines refused at the bound. Every refusal leaves the catalog as it was (SQLite, PostgreSQL).
"""

from __future__ import annotations

import gzip
import time
from collections import Counter

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from peaksql.core.errors import AlreadyExists, InputFileError
from peaksql.server.ingest.chromosomes import ChromosomeResolver, builtin_aliases
from peaksql.server.ingest.intervals import add_data, add_data_files
from tests.helpers import store_rows
from tests.test_ingest_intervals import engine, populated, snapshot, write_file  # noqa: F401

NARROW = "chr1\t100\t200\tp1\t5\t+\t7.5\t3.2\t1.1\t40"


def store_folders(engine: sa.Engine) -> list[str]:
    """Part and staging folders in the interval store (the lock file aside)."""
    from peaksql.server.catalog.interval_store import data_dir_of, store_root

    root = store_root(data_dir_of(engine))
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def stored(engine: sa.Engine, condition: str) -> list[tuple]:
    """(chromosome, start, end, signal_value, p_value, summit) from the store, by start."""
    rows = sorted(store_rows(engine, condition), key=lambda row: row[1])
    return [(r[0], r[1], r[2], r[6], r[7], r[9]) for r in rows]


# --- aliases -------------------------------------------------------------------------------------


def test_builtin_aliases_resolve_both_ways(populated, tmp_path):
    path = write_file(tmp_path / "ucsc.bed", "1\t0\t10\nMT\t5\t9\nX\t1\t2\nchr2\t3\t4\n")
    info = add_data(populated, path, "toy", progress=False)
    assert info.num_intervals == 4
    assert [row[0] for row in stored(populated, "ucsc")] == ["chr1", "chrX", "chr2", "chrM"]


_UNIVERSE = ["chr1", "1", "Chr1", "chrM", "MT", "M", "chrMT", "chrX", "X", "Chr2", "2", "chrUn_x"]


def _family(name: str) -> str:
    """The independent rule: a name without its chr prefix; every mitochondrion is 'M'."""
    bare = name[3:] if name[:3].lower() == "chr" and len(name) > 3 else name
    return "M" if bare in ("M", "MT") else bare


@settings(max_examples=80, deadline=None)
@given(names=st.lists(st.sampled_from(_UNIVERSE), min_size=1, max_size=6, unique=True))
def test_alias_resolution_properties(names):
    """Every name resolves to itself if the assembly has it, else to the one chromosome of
    its family, else (no such chromosome, or two) to nothing."""
    resolver = ChromosomeResolver(names, "asm")
    assert set(builtin_aliases(names)).isdisjoint(names)
    for query in _UNIVERSE:
        family = [i for i, name in enumerate(names) if _family(name) == _family(query)]
        unique = family[0] if len(family) == 1 else None
        expected = names.index(query) if query in names else unique
        assert resolver.index.get(query) == expected, (query, names)


def test_alias_file(populated, tmp_path):
    aliases = write_file(
        tmp_path / "toy.chromAlias.txt",
        "# ucsc\tassembly\tgenbank\n"
        "chr1\t1\tCM000663.2\n"
        "chrX\tX\tCM000685.2\n"
        "chr_not_loaded\t99\tKI270.1\n",
    )
    path = write_file(tmp_path / "genbank.bed", "CM000663.2\t0\t10\r\nCM000685.2\t1\t2\r\n")
    info = add_data(populated, path, "toy", progress=False, chromosome_aliases=aliases)
    assert info.num_intervals == 2
    assert {row[0] for row in stored(populated, "genbank")} == {"chr1", "chrX"}


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("chr1\tchr2\n", 1, "alias 'chr2' of 'chr1' is another chromosome"),
        ("chr1\tx\nchrX\tx\n", 2, "alias 'x' names both 'chr1' (line 1) and 'chrX'"),
        ("1\tchr1\nX\tchrX\n", None, "no line's first column is a chromosome of assembly 'toy'"),
    ],
)
def test_bad_alias_file_changes_nothing(populated, tmp_path, text, line, problem):
    aliases = write_file(tmp_path / "aliases.txt", text)
    path = write_file(tmp_path / "a.bed", "chr1\t0\t10\n")
    before = snapshot(populated)
    with pytest.raises(InputFileError) as caught:
        add_data(populated, path, "toy", progress=False, chromosome_aliases=aliases)
    where = f"{aliases}, line {line}: " if line else f"{aliases}: "
    assert str(caught.value) == where + problem or str(caught.value).startswith(where + problem)
    assert snapshot(populated) == before


# --- unknown chromosomes -------------------------------------------------------------------------


def test_skip_unknown_chromosomes_reports_names_and_counts(populated, tmp_path):
    lines = ["chr1\t0\t10"] + ["chrUn_a\t1\t2"] * 3 + ["chrY\t1\t2"] + ["chr2\t5\t6"]
    lines += [f"chrUn_{k}\t1\t2" for k in range(6)]
    path = write_file(tmp_path / "mixed.bed", "\n".join(lines) + "\n")
    before = snapshot(populated)
    with pytest.raises(InputFileError, match=r"mixed\.bed, line 2: chromosome 'chrUn_a' is not"):
        add_data(populated, path, "toy", progress=False)
    assert snapshot(populated) == before

    info = add_data(populated, path, "toy", progress=False, skip_unknown_chromosomes=True)
    assert info.num_intervals == 2
    assert info.skipped == Counter({"chrUn_a": 3, "chrY": 1, **{f"chrUn_{k}": 1 for k in range(6)}})
    report = info.describe_skipped()
    assert report.startswith("10 lines on 8 unknown chromosomes: chrUn_a (3), ")
    assert report.endswith(" and 3 more")
    assert [row[:3] for row in stored(populated, "mixed")] == [("chr1", 0, 10), ("chr2", 5, 6)]


def test_skipping_everything_is_refused(populated, tmp_path):
    path = write_file(tmp_path / "none.bed", "chrUn_a\t1\t2\n")
    before = snapshot(populated)
    with pytest.raises(InputFileError, match=r"no intervals .*skipped 1 lines on 1 unknown"):
        add_data(populated, path, "toy", progress=False, skip_unknown_chromosomes=True)
    assert snapshot(populated) == before


# --- narrowPeak named .bed -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ENCFF001.bed.gz", "peaks.bed"])
def test_encode_narrowpeak_named_bed_keeps_its_statistics(engine, tmp_path, name):
    path = write_file(tmp_path / name, NARROW + "\n", compress=name.endswith(".gz"))
    info = add_data(engine, path, "toy", progress=False)
    assert info.format == "narrowpeak" and "read as narrowPeak" in info.note
    assert "--format bed" in info.note
    assert stored(engine, info.condition) == [("chr1", 100, 200, 7.5, 3.2, 40)]
    as_bed = add_data(engine, path, "toy", "as-bed", fmt="bed", progress=False)
    assert as_bed.format == "bed" and as_bed.note is None
    assert stored(engine, "as-bed") == [("chr1", 100, 200, None, None, None)]


def test_bed_with_other_column_counts_stays_bed(engine, tmp_path):
    path = write_file(tmp_path / "b9.bed", "chr1\t1\t5\tn\t0\t+\t1\t5\t0,0,0\n")
    assert add_data(engine, path, "toy", progress=False).format == "bed"


# --- BOM, CR, CRLF -------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    compress=st.booleans(),
    starts=st.lists(st.integers(0, 1000), min_size=1, max_size=20),
)
def test_bom_and_line_ends(newline, bom, compress, starts, tmp_path_factory):
    from peaksql.server.ingest.reader import read_intervals

    text = ("\ufeff" if bom else "") + "track name=x" + newline
    text += newline.join(f"chr1\t{s}\t{s + 5}\tn{s}" for s in starts) + newline
    path = write_file(tmp_path_factory.mktemp("f") / "x.bed", text, compress=compress)
    chunks = list(read_intervals(path, "bed"))
    assert np.concatenate([c.start for c in chunks]).tolist() == starts
    assert [n for c in chunks for n in c.name] == [f"n{s}" for s in starts]
    assert np.concatenate([c.line for c in chunks]).tolist() == list(range(2, len(starts) + 2))


# --- long lines ----------------------------------------------------------------------------------


def test_a_huge_line_is_refused_at_the_bound(populated, tmp_path):
    path = tmp_path / "huge.bed"
    with path.open("wb") as out:
        out.write(b"chr1\t1\t2\n")
        out.write(b"chr1\t1\t2\t" + b"n" * (256 << 20) + b"\n")
    before = snapshot(populated)
    started = time.perf_counter()
    with pytest.raises(InputFileError) as caught:
        add_data(populated, path, "toy", progress=False)
    assert time.perf_counter() - started < 10
    assert str(caught.value) == (
        f"{path}, line 2: line longer than 1,048,576 bytes: is this an interval file?"
    )
    assert snapshot(populated) == before


def test_echoed_values_are_clipped(populated, tmp_path):
    path = write_file(tmp_path / "long.bed", f"chr1\t{'9' * 5000}x\t10\n")
    with pytest.raises(InputFileError) as caught:
        add_data(populated, path, "toy", progress=False)
    assert len(str(caught.value)) < 400 and "(4,801 more characters)" in str(caught.value)


# --- several files: one transaction --------------------------------------------------------------


def test_a_bad_file_among_several_stores_none(populated, tmp_path):
    good = write_file(tmp_path / "good.bed", "chr1\t0\t10\n")
    other = write_file(tmp_path / "other.narrowPeak", NARROW + "\n")
    bad = write_file(tmp_path / "bad.bed", "chr1\t0\t10\nchr1\t5\tforty\n")
    before, folders = snapshot(populated), store_folders(populated)
    with pytest.raises(InputFileError, match=r"bad\.bed, line 2: column 3"):
        add_data_files(populated, [good, other, bad], "toy", progress=False)
    assert snapshot(populated) == before
    assert store_folders(populated) == folders  # the parts of good and other were deleted
    infos = add_data_files(populated, [good, other], "toy", progress=False)
    assert [(i.condition, i.num_intervals) for i in infos] == [("good", 1), ("other", 1)]


def test_two_files_with_one_condition_name_store_none(populated, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_file(tmp_path / "a" / "liver.bed", "chr1\t0\t10\n")
    second = write_file(tmp_path / "b" / "liver.bed", "chr1\t0\t10\n")
    before, folders = snapshot(populated), store_folders(populated)
    with pytest.raises(AlreadyExists, match="'liver' already exists"):
        add_data_files(populated, [first, second], "toy", progress=False)
    assert snapshot(populated) == before
    assert store_folders(populated) == folders


def test_a_failed_commit_deletes_every_part_written(populated, tmp_path, monkeypatch):
    """Parts are on disk before the one transaction; if it fails they go, rows never came."""
    from peaksql.server.ingest import intervals

    files = [write_file(tmp_path / f"f{k}.bed", "chr1\t0\t10\n") for k in range(3)]
    before, folders = snapshot(populated), store_folders(populated)

    def fail(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(intervals, "bump_generation", fail)
    with pytest.raises(RuntimeError, match="went away"):
        add_data_files(populated, files, "toy", progress=False)
    assert snapshot(populated) == before
    assert store_folders(populated) == folders


def test_gzip_bed_with_bom(populated, tmp_path):
    path = tmp_path / "bom.bed.gz"
    path.write_bytes(gzip.compress("\ufeffchr1\t0\t10\r\n".encode()))
    assert add_data(populated, path, "toy", progress=False).num_intervals == 1
