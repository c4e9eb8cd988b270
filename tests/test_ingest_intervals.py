"""Interval ingest against an independent reference parse (plain ``str.split``) on SQLite and
PostgreSQL: round trips for every format, every bad-input case with an unchanged database.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from peaksql.core.errors import AlreadyExists, InputFileError, InvalidArgument, NotFound
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.queries import ConditionInfo, list_conditions
from peaksql.server.catalog.schema import assemblies, chromosomes, conditions, intervals, parts
from peaksql.server.ingest.formats import detect_format
from peaksql.server.ingest.intervals import add_data, default_condition, remove_condition
from peaksql.server.ingest.reader import read_intervals
from tests.helpers import store_rows

SETTINGS = settings(max_examples=40, deadline=None)

#: The test assembly: name -> length.
CHROMOSOMES = {"chr1": 20_000, "chr2": 15_000, "chrX": 9_000, "chrM": 300}
OTHER_CHROMOSOMES = {"chr1": 1_000}

#: Header lines a real file may carry; the reference parse and the ingest both skip them.
HEADERS = ("track name=peaks description='test'", "browser position chr1:1-1000", "# comment")


# ---------------------------------------------------------------------------------------------
# fixtures


def _add_assembly(engine: sa.Engine, name: str, lengths: dict[str, int]) -> None:
    with engine.begin() as connection:
        assembly_id = connection.execute(
            assemblies.insert().values(
                name=name, species="test", length=sum(lengths.values()), store_file="dummy.u8"
            )
        ).inserted_primary_key[0]
        offset = 0
        for chromosome, length in lengths.items():
            connection.execute(
                chromosomes.insert().values(
                    assembly_id=assembly_id, name=chromosome, length=length, offset=offset
                )
            )
            offset += length


@pytest.fixture
def engine(db_url: str, tmp_path: Path):
    """A catalog with assemblies ``toy`` (CHROMOSOMES) and ``other`` (OTHER_CHROMOSOMES)."""
    engine = open_database(db_url, data_dir=tmp_path / "data")
    _add_assembly(engine, "toy", CHROMOSOMES)
    _add_assembly(engine, "other", OTHER_CHROMOSOMES)
    yield engine
    engine.dispose()


# ---------------------------------------------------------------------------------------------
# random files and the independent reference parse

FORMAT_COLUMNS = {"bed3": 3, "bed6": 6, "bed12": 12, "narrowpeak": 10, "broadpeak": 9}


def _random_float(rng: np.random.Generator) -> str:
    return repr(float(np.round(rng.normal(10, 20), int(rng.integers(0, 7)))))


def random_rows(rng: np.random.Generator, kind: str, num_rows: int) -> list[list[str]]:
    """Fields of ``num_rows`` valid lines of ``kind`` (bed3, bed6, bed12, narrowpeak,
    broadpeak, bedgraph), with the missing-value spellings each format allows.
    """
    names = list(CHROMOSOMES)
    rows = []
    for index in range(num_rows):
        chromosome = names[int(rng.integers(len(names)))]
        length = CHROMOSOMES[chromosome]
        start = int(rng.integers(0, length - 1))
        end = int(rng.integers(start + 1, min(start + 500, length) + 1))
        if rng.random() < 0.05:
            end = length  # the last base is allowed
        row = [chromosome, str(start), str(end)]
        if kind == "bedgraph":
            rows.append([*row, _random_float(rng)])
            continue
        if kind == "bed3":
            rows.append(row)
            continue
        name = rng.choice([f"peak_{index}", ".", f"peak {index} with spaces", "ünï\\côde"])
        score = rng.choice([str(int(rng.integers(0, 1001))), ".", _random_float(rng)])
        strand = str(rng.choice(["+", "-", "."]))
        row += [str(name), str(score), strand]
        if kind == "bed12":
            row += [str(start), str(end), "255,0,0", "1", f"{end - start},", "0,"]
        if kind in ("narrowpeak", "broadpeak"):
            row += [
                rng.choice([_random_float(rng), "."]),
                rng.choice([_random_float(rng), "-1"]),
                rng.choice([_random_float(rng), "-1", "."]),
            ]
        if kind == "narrowpeak":
            row.append(str(rng.choice([int(rng.integers(0, end - start)), -1])))
        rows.append([str(field) for field in row])
    return rows


def file_text(rng: np.random.Generator, rows: list[list[str]], separator: str = "\t") -> str:
    """Rows joined as lines, with header, comment and blank lines mixed in."""
    lines = [HEADERS[0], HEADERS[1]]
    for row in rows:
        if rng.random() < 0.05:
            lines.append(str(rng.choice([*HEADERS, "", "   "])))
        lines.append(separator.join(row))
    return "\n".join(lines) + "\n"


def write_file(path: Path, text: str, *, compress: bool = False) -> Path:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def _optional_number(text: str, *, minus_one_missing: bool = False) -> float | None:
    if text == "." or (minus_one_missing and float(text) == -1):
        return None
    return float(text)


def reference_parse(text: str, fmt: str) -> list[tuple[Any, ...]]:
    """Rows as (chromosome, start, end, name, score, strand, signal_value, p_value, q_value,
    summit, value): written from the format specifications, sharing no code with the parser.
    """
    expected = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        fields = line.rstrip().split("\t") if "\t" in line else line.split()
        record: list[Any] = [fields[0], int(fields[1]), int(fields[2])] + [None] * 8
        if fmt == "bedgraph":
            record[10] = float(fields[3])
        else:
            if len(fields) > 3:
                record[3] = None if fields[3] == "." else fields[3]
            if len(fields) > 4:
                record[4] = _optional_number(fields[4])
            if len(fields) > 5:
                record[5] = None if fields[5] == "." else fields[5]
        if fmt in ("narrowpeak", "broadpeak"):
            record[6] = _optional_number(fields[6])
            record[7] = _optional_number(fields[7], minus_one_missing=True)
            record[8] = _optional_number(fields[8], minus_one_missing=True)
        if fmt == "narrowpeak":
            record[9] = None if fields[9] == "-1" else int(fields[9])
        expected.append(tuple(record))
    return expected


def stored_rows(engine: sa.Engine, condition: str) -> list[tuple[Any, ...]]:
    """The condition's intervals read back from the store, sorted as ``sorted_reference``."""
    return store_rows(engine, condition)


def sorted_reference(rows: list[tuple[Any, ...]], lengths: dict[str, int] = CHROMOSOMES):
    """Reference rows in store order: chromosome (id order), start, end; file order in ties."""
    order = {name: k for k, name in enumerate(lengths)}
    return sorted(rows, key=lambda r: (order[r[0]], r[1], r[2]))


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every catalog row, to prove a failed ingest changed nothing."""
    with engine.connect() as connection:
        return {
            table.name: sorted(
                tuple(row) for row in connection.execute(sa.select(table).order_by(table.c.id))
            )
            for table in (assemblies, chromosomes, conditions, intervals, parts)
        }


# ---------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(
    ("kind", "suffix"),
    [
        ("bed3", ".bed"),
        ("bed6", ".bed"),
        ("bed12", ".BED"),
        ("narrowpeak", ".narrowPeak"),
        ("broadpeak", ".broadPeak"),
        ("bedgraph", ".bedGraph"),
        ("bedgraph", ".bdg"),
    ],
)
def test_round_trip(
    engine: sa.Engine, tmp_path: Path, kind: str, suffix: str, compress: bool
) -> None:
    rng = np.random.default_rng(sum(map(ord, kind + suffix)) + compress)
    rows = random_rows(rng, kind, int(rng.integers(50, 400)))
    text = file_text(rng, rows)
    path = write_file(
        tmp_path / f"sample{suffix}{'.gz' if compress else ''}", text, compress=compress
    )
    fmt = "bed" if kind.startswith("bed") and kind != "bedgraph" else kind

    info = add_data(engine, path, "toy", progress=False, chunk_lines=64)

    assert info.condition == "sample"
    assert info.format == fmt
    assert info.num_intervals == len(rows)
    assert stored_rows(engine, "sample") == sorted_reference(reference_parse(text, fmt))


def test_whitespace_separated_bed_and_crlf(engine: sa.Engine, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rows = [row[:5] for row in random_rows(rng, "bed6", 80)]
    for row in rows:
        row[3] = row[3].replace(" ", "_")
    spaced = file_text(rng, rows, separator="  ")
    path = write_file(tmp_path / "spaced.bed", spaced.replace("\n", "\r\n"))

    add_data(engine, path, "toy", progress=False)

    assert stored_rows(engine, "spaced") == sorted_reference(reference_parse(spaced, "bed"))


def test_gzip_is_detected_by_content_not_name(engine: sa.Engine, tmp_path: Path) -> None:
    text = "chr1\t10\t20\nchr2\t5\t6\n"
    compressed = write_file(tmp_path / "zipped.bed", text, compress=True)
    plain = write_file(tmp_path / "plain.bed.gz", text)

    add_data(engine, compressed, "toy", progress=False)
    add_data(engine, plain, "toy", progress=False)

    assert stored_rows(engine, "zipped") == stored_rows(engine, "plain")
    assert stored_rows(engine, "plain") == sorted_reference(reference_parse(text, "bed"))


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    num_rows=st.integers(1, 60),
    chunk_lines=st.integers(1, 25),
    kind=st.sampled_from(["bed3", "bed6", "bed12", "narrowpeak", "broadpeak", "bedgraph"]),
)
def test_parser_matches_reference_at_any_chunk_size(
    tmp_path_factory: pytest.TempPathFactory, seed: int, num_rows: int, chunk_lines: int, kind: str
) -> None:
    """read_intervals alone (no database): chunk boundaries change nothing."""
    rng = np.random.default_rng(seed)
    text = file_text(rng, random_rows(rng, kind, num_rows))
    path = write_file(tmp_path_factory.mktemp("parse") / "x.txt", text)
    fmt = "bed" if kind.startswith("bed") and kind != "bedgraph" else kind

    parsed = []
    chunks = list(read_intervals(path, fmt, chunk_lines=chunk_lines))
    for chunk in chunks:
        for row in range(len(chunk)):
            record = [chunk.chromosome[row], int(chunk.start[row]), int(chunk.end[row])]
            for field in ("name", "score", "strand", "signal_value", "p_value", "q_value"):
                values = getattr(chunk, field)
                value = None if values is None else values[row]
                if isinstance(value, float) and math.isnan(value):
                    value = None
                record.append(value)
            summit = None if chunk.summit is None else int(chunk.summit[row])
            record.append(None if summit == -1 else summit)
            record.append(None if chunk.value is None else float(chunk.value[row]))
            parsed.append(tuple(record))

    assert parsed == reference_parse(text, fmt)
    assert all(len(chunk) <= chunk_lines for chunk in chunks)
    data_lines = [
        number
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.startswith(("#", "track", "browser"))
    ]
    assert np.concatenate([chunk.line for chunk in chunks]).tolist() == data_lines


# ---------------------------------------------------------------------------------------------
# conditions: default name, append, metadata, listing, removal


@pytest.mark.parametrize(
    ("name", "condition", "fmt"),
    [
        ("liver.narrowPeak.gz", "liver", "narrowpeak"),
        ("heart.broadpeak", "heart", "broadpeak"),
        ("ctcf.rep1.bed", "ctcf.rep1", "bed"),
        ("signal.BDG.GZ", "signal", "bedgraph"),
        ("coverage.bedGraph", "coverage", "bedgraph"),
    ],
)
def test_default_condition_and_format_from_the_name(name: str, condition: str, fmt: str) -> None:
    assert default_condition(Path("/data") / name) == condition
    assert detect_format(name) == fmt


def test_unknown_extension_asks_for_format(engine: sa.Engine, tmp_path: Path) -> None:
    path = write_file(tmp_path / "peaks.txt", "chr1\t1\t2\n")
    with pytest.raises(InvalidArgument) as error:
        add_data(engine, path, "toy", progress=False)
    message = str(error.value)
    assert "--format" in message
    for fmt in ("bed", "narrowpeak", "broadpeak", "bedgraph"):
        assert fmt in message

    info = add_data(engine, path, "toy", fmt="BED", progress=False)
    assert (info.condition, info.format, info.num_intervals) == ("peaks", "bed", 1)


def test_append_adds_to_the_condition(engine: sa.Engine, tmp_path: Path) -> None:
    first = write_file(tmp_path / "a.bed", "chr1\t0\t10\tx\n")
    second = write_file(tmp_path / "b.bed", "chr2\t5\t15\ty\nchrM\t0\t300\tz\n")
    add_data(engine, first, "toy", "liver", metadata={"tissue": "liver"}, progress=False)

    with pytest.raises(AlreadyExists, match=r"b\.bed.*'liver' already exists"):
        add_data(engine, second, "toy", "liver", progress=False)
    info = add_data(
        engine, second, "toy", "liver", append=True, metadata={"assay": "ChIP"}, progress=False
    )

    assert info.num_intervals == 2
    assert [row[:4] for row in stored_rows(engine, "liver")] == [
        ("chr1", 0, 10, "x"),
        ("chr2", 5, 15, "y"),
        ("chrM", 0, 300, "z"),
    ]
    with engine.connect() as connection:
        metadata, source = connection.execute(
            sa.select(conditions.c.metadata, conditions.c.source_file)
        ).one()
    assert json.loads(metadata) == {"tissue": "liver", "assay": "ChIP"}
    assert source == str(first.resolve())
    assert list_conditions(engine) == [
        ConditionInfo(
            "liver",
            "toy",
            3,
            str(first.resolve()),
            {"tissue": "liver", "assay": "ChIP"},
            ("toy",),
        )
    ]


def test_append_creates_a_missing_condition(engine: sa.Engine, tmp_path: Path) -> None:
    path = write_file(tmp_path / "a.bed", "chr1\t0\t10\n")
    assert add_data(engine, path, "toy", "new", append=True, progress=False).num_intervals == 1
    assert [info.name for info in list_conditions(engine)] == ["new"]


def test_append_adds_another_assemblys_intervals(engine: sa.Engine, tmp_path: Path) -> None:
    """A condition is independent of assemblies: --append of another assembly's file adds to
    it (still only with --append, so a re-run cannot double it)."""
    path = write_file(tmp_path / "a.bed", "chr1\t0\t10\n")
    add_data(engine, path, "toy", "c", progress=False)
    before = snapshot(engine)
    with pytest.raises(AlreadyExists, match="already exists"):
        add_data(engine, path, "other", "c", progress=False)
    assert snapshot(engine) == before
    add_data(engine, path, "other", "c", append=True, progress=False)
    [info] = list_conditions(engine)
    assert (info.name, info.assembly, info.assemblies, info.num_intervals) == (
        "c",
        "other,toy",
        ("other", "toy"),
        2,
    )


def test_list_and_remove_conditions(engine: sa.Engine, tmp_path: Path) -> None:
    add_data(engine, write_file(tmp_path / "b.bed", "chr1\t0\t10\nchr1\t3\t9\n"), "toy")
    add_data(engine, write_file(tmp_path / "a.bed", "chr1\t0\t10\n"), "other", progress=False)
    add_data(engine, write_file(tmp_path / "c.bed", "# only a comment\nchr2\t1\t2\n"), "toy")

    assert [(info.name, info.assembly, info.num_intervals) for info in list_conditions(engine)] == [
        ("a", "other", 1),
        ("b", "toy", 2),
        ("c", "toy", 1),
    ]
    kept = stored_rows(engine, "a") + stored_rows(engine, "c")

    assert remove_condition(engine, "b").intervals == 2

    assert [info.name for info in list_conditions(engine)] == ["a", "c"]
    assert stored_rows(engine, "b") == []
    assert stored_rows(engine, "a") + stored_rows(engine, "c") == kept
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.sum(parts.c.num_intervals))) == 2
        names = set(connection.scalars(sa.select(parts.c.path)))
    assert {p.name for p in (tmp_path / "data" / "intervals").iterdir()} == {".lock", *names}
    with pytest.raises(NotFound, match="no condition 'b'; the conditions are: a, c"):
        remove_condition(engine, "b")


# ---------------------------------------------------------------------------------------------
# bad input: the message names file, line and problem; the database is unchanged


NARROW = "chr1\t100\t200\tp\t5\t+\t1\t2\t3\t50"


@pytest.fixture
def populated(engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    """The catalog with one condition already stored, so 'unchanged' is not trivially true."""
    existing = write_file(
        tmp_path / "existing.narrowPeak", "chr1\t100\t200\tp\t5\t+\t1\t2\t3\t50\n"
    )
    add_data(engine, existing, "toy", progress=False)
    return engine


@pytest.mark.parametrize(
    ("lines", "line", "problem"),
    [
        ([NARROW, "chrZ\t1\t2\tp\t5\t+\t1\t2\t3\t0"], 2, "chromosome 'chrZ' is not in assembly"),
        ([NARROW, "chrUn_1\t1\t2\tp\t5\t+\t1\t2\t3\t0"], 2, "--skip-unknown-chromosomes"),
        ([NARROW, "chr1\t500\t400\tp\t5\t+\t1\t2\t3\t0"], 2, "start 500 is greater than end 400"),
        ([NARROW, "chrM\t0\t301\tp\t5\t+\t1\t2\t3\t0"], 2, "end 301 is past the end of chrM"),
        ([NARROW, "chr1\t-5\t10\tp\t5\t+\t1\t2\t3\t0"], 2, "start -5 is negative"),
        ([NARROW, "chr1\tabc\t10\tp\t5\t+\t1\t2\t3\t0"], 2, "column 2: start 'abc' is not an"),
        ([NARROW, "chr1\t1\t10.5\tp\t5\t+\t1\t2\t3\t0"], 2, "column 3: end '10.5' is not an"),
        ([NARROW, "chr1\t1\t10\tp\thigh\t+\t1\t2\t3\t0"], 2, "column 5: score 'high' is not a"),
        ([NARROW, "chr1\t1\t10\tp\t5\t+\tx\t2\t3\t0"], 2, "column 7: signalValue 'x' is not a"),
        ([NARROW, "chr1\t1\t10\tp\t5\t+\t1\t2e\t3\t0"], 2, "column 8: pValue '2e' is not a"),
        ([NARROW, "chr1\t1\t10\tp\t5\t*\t1\t2\t3\t0"], 2, "strand '*' is not one of"),
        ([NARROW, "chr1\t1\t10\tp\t5\t+\t1\t2\t3\t9"], 2, "peak 9 is not an offset inside"),
        (
            [NARROW, "chr1\t1\t10\tp\t5\t+\t1\t2\t3"],
            2,
            "expected 10 columns for narrowPeak, found 9",
        ),
        ([NARROW, "chr1\t1\t10\tp\t5\t+\t1\t2\t3\t0\t0"], 2, "expected 10 columns"),
        (["# header", "", NARROW, "chr1 1"], 4, "found 2"),
        (["track x", "# nothing else"], None, "no intervals"),
        ([], None, "no intervals"),
    ],
)
def test_bad_lines_name_file_line_and_problem(
    populated: sa.Engine, tmp_path: Path, lines: list[str], line: int | None, problem: str
) -> None:
    path = write_file(tmp_path / "bad.narrowPeak", "".join(f"{text}\n" for text in lines))
    before = snapshot(populated)

    with pytest.raises(InputFileError) as error:
        add_data(populated, path, "toy", progress=False)

    where = f"{path}, line {line}: " if line is not None else f"{path}: "
    assert str(error.value).startswith(where)
    assert problem in str(error.value)
    assert (error.value.path, error.value.line) == (str(path), line)
    assert snapshot(populated) == before


@pytest.mark.parametrize(
    ("fmt", "text", "line", "problem"),
    [
        ("bedgraph", "chr1\t1\t2\t0.5\nchr1\t2\t3\t.\n", 2, "column 4: value '.' is not a number"),
        ("bedgraph", "chr1\t1\t2\tinf\n", 1, "value 'inf' is not a finite number"),
        ("bed", "chr1\t1\t2\tx\t1\t+\nchr1\t1\t2\n", 2, "found 3 columns but the first line has 6"),
        ("bed", "chr1\t1\n", 1, "expected 3 to 12 columns for BED, found 2"),
        ("bed", "chr1\t1\t2\tx\t1\t+\t1\t2\t0\t1\t1\t0\t9\n", 1, "expected 3 to 12 columns"),
        ("bed", f"chr1\t1\t2\t{'n' * 256}\n", 1, "name is 256 characters long (at most 255)"),
        ("broadpeak", "chr1\t1\t2\t.\t.\t.\t1\t2\n", 1, "expected 9 columns for broadPeak"),
    ],
)
def test_bad_values_per_format(
    populated: sa.Engine, tmp_path: Path, fmt: str, text: str, line: int, problem: str
) -> None:
    path = write_file(tmp_path / "bad.txt", text)
    before = snapshot(populated)
    with pytest.raises(InputFileError, match=rf"bad\.txt, line {line}: .*{re.escape(problem)}"):
        add_data(populated, path, "toy", fmt=fmt, progress=False)
    assert snapshot(populated) == before


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"chr1\t1\t2\n\x89PNG\r\n\x1a\n\x00\x00", "line 2: not a text file"),
        (b"chr1\t1\t2\nchr1\t\xff\xfe\t3\n", r"line 2: not a text file \(byte 0xff is not UTF-8"),
        (b"chr1\t1\t2\n\nchr1\x00\t1\t2\n", r"line 3: not a text file \(it contains a NUL byte"),
        (gzip.compress(b"chr1\t1\t2\n" * 100)[:-12], "cannot decompress"),
    ],
)
def test_files_that_are_not_text(
    populated: sa.Engine, tmp_path: Path, data: bytes, problem: str
) -> None:
    path = tmp_path / "binary.bed"
    path.write_bytes(data)
    before = snapshot(populated)
    with pytest.raises(InputFileError, match=problem):
        add_data(populated, path, "toy", progress=False)
    assert snapshot(populated) == before


def test_unknown_assembly(populated: sa.Engine, tmp_path: Path) -> None:
    path = write_file(tmp_path / "x.bed", "chr1\t1\t2\n")
    before = snapshot(populated)
    with pytest.raises(NotFound) as error:
        add_data(populated, path, "hg19", progress=False)
    assert str(error.value) == (
        f"{path}: assembly 'hg19' not found; the assemblies are: other, toy"
    )
    assert snapshot(populated) == before


def test_duplicate_condition(populated: sa.Engine, tmp_path: Path) -> None:
    path = write_file(tmp_path / "existing.bed", "chr1\t1\t2\n")
    before = snapshot(populated)
    with pytest.raises(AlreadyExists) as error:
        add_data(populated, path, "toy", progress=False)
    assert str(error.value).startswith(f"{path}: condition 'existing' already exists")
    assert "append" in str(error.value)
    assert snapshot(populated) == before


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_bad_line_after_many_chunks_rolls_back_the_whole_file(
    populated: sa.Engine, tmp_path: Path, compress: bool
) -> None:
    """Chunks already inserted are undone when a later chunk fails (one transaction)."""
    rng = np.random.default_rng(11)
    rows = random_rows(rng, "narrowpeak", 5_000)
    bad_index = 4_321
    rows[bad_index][0] = "chrUn_gl000220"
    text = "\n".join("\t".join(row) for row in rows) + "\n"
    path = write_file(tmp_path / "late.narrowPeak.gz", text, compress=compress)
    before = snapshot(populated)

    with pytest.raises(InputFileError, match=rf"line {bad_index + 1}: chromosome 'chrUn_gl000220'"):
        add_data(populated, path, "toy", progress=False, chunk_lines=1_000)

    assert snapshot(populated) == before
    rows[bad_index][0] = "chr1"
    text = "\n".join("\t".join(row) for row in rows) + "\n"
    write_file(path, text, compress=compress)
    assert (
        add_data(populated, path, "toy", progress=False, chunk_lines=1_000).num_intervals == 5_000
    )


# --- the format registry ---------------------------------------------------------------------


def test_format_registry_drives_detection_the_cli_and_its_help() -> None:
    from peaksql.server.cli import build_parser
    from peaksql.server.ingest.formats import FILE_FIELDS, FORMATS, format_names

    parser = build_parser()
    for name, spec in FORMATS.items():
        assert set(spec.fields) <= set(FILE_FIELDS)
        for extension in spec.extensions:
            assert detect_format(f"x{extension.upper()}.gz") == name
        assert parser.parse_args(["add-data", "f", "--assembly", "a", "--format", name]).format
    # a superset: signal formats (and later formats) join the interval formats
    assert format_names()[: len(FORMATS)] == tuple(FORMATS)
    for name in format_names():
        assert parser.parse_args(["add-data", "f", "--assembly", "a", "--format", name]).format
    with pytest.raises(SystemExit):
        parser.parse_args(["add-data", "f", "--assembly", "a", "--format", "gff"])
    with pytest.raises(InvalidArgument) as refused:
        detect_format("x.gff")
    assert all(name in str(refused.value) for name in format_names())


def test_format_spec_refuses_a_field_outside_the_column_table() -> None:
    from peaksql.server.ingest.formats import FormatSpec

    location = (("chrom", "chromosome"), ("start", "start"), ("end", "end"))
    with pytest.raises(ValueError, match="bad columns"):
        FormatSpec("x", "X", (".x",), (*location, ("colour", "colour")), 3)
    with pytest.raises(ValueError, match="must start with"):
        FormatSpec("x", "X", (".x",), (("start", "start"), *location), 3)
