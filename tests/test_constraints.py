"""The constraint language: what it accepts, how it splits, what it selects, what it refuses.

Selections are checked on SQLite and PostgreSQL against an independent Python evaluation
of randomly generated constraints (SQL three-valued logic, NULL as None).
"""

from __future__ import annotations

import operator
import random
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaksql.core.errors import ConstraintError
from peaksql.server.engine.constraints import (
    ALLOWED_COLUMNS,
    INTERVAL_COLUMNS,
    REGION_COLUMNS,
    TEXT_COLUMNS,
    Where,
    parse_where,
)

NUMERIC_COLUMNS = tuple(c for c in ALLOWED_COLUMNS if c not in TEXT_COLUMNS)
INTEGER_COLUMNS = ("chromosome_length", "start", "end", "summit")
FLOAT_COLUMNS = ("score", "signal_value", "p_value", "q_value", "value")
STORED_COLUMNS = tuple(c for c in ALLOWED_COLUMNS if c != "length")  # length = end - start

# --- acceptance -----------------------------------------------------------------------------

ACCEPTED = [
    "chromosome = 'chr1'",
    "chromosome != 'chr1'",
    "chromosome <> 'chr1'",
    "start < 5 AND start <= 5 AND start > 5 AND start >= 5",
    "start = -5",
    "-5 < start",
    "p_value > 1.5e-3",
    "p_value > .5",
    "condition IN ('liver', 'heart')",
    "condition NOT IN ('liver')",
    "summit BETWEEN 1 AND 10",
    "summit NOT BETWEEN -1 AND 10.5",
    "name LIKE 'peak_%'",
    "name NOT LIKE '%x'",
    "strand IS NULL",
    "strand IS NOT NULL",
    "NOT (chromosome = 'chr1' OR chromosome = 'chr2')",
    "NOT NOT start = 1",
    "((start = 1))",
    "assembly = 'hg38' AND species = 'human' AND chromosome_length > 1000",
    "end = 1",
    '"end" > 5 AND "Start" < 3',
    "length >= 100 AND score < 1000 AND signal_value > 0 AND q_value < 0.05 AND value = 1",
    "name = 'a--b /* not a comment */; DROP TABLE x'",
    "name = 'it''s é ＇ \u200b'",
    "where chromosome = 'chr1'",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepts_the_language(text: str) -> None:
    where = parse_where(text)
    assert where.canonical
    assert parse_where(where.canonical) == where  # the canonical text is a fixed point


def test_string_literals_keep_their_text() -> None:
    where = parse_where("name = 'a--b /* x */; ''q'' é'")
    table = sa.table("t", sa.column("name"))
    clause = where.interval_clause({"name": table.c.name})
    assert clause is not None
    assert clause.compile().params == {"param_1": "a--b /* x */; 'q' é"}


@pytest.mark.parametrize("text", [None, "", "   ", "WHERE", " where \n"])
def test_empty_constraint_has_no_terms(text: str | None) -> None:
    where = parse_where(text)
    assert where == Where()
    assert where.region_clause({}) is None
    assert where.interval_clause({}) is None


def test_leading_where_and_column_case_are_ignored() -> None:
    canonical = parse_where("chromosome = 'chr22'").canonical
    for text in [
        "WHERE chromosome='chr22'",
        "where CHROMOSOME = 'chr22'",
        "  Where \"Chromosome\" = 'chr22'",
        "WHERE ChRoMoSoMe='chr22'",
    ]:
        where = parse_where(text)
        assert where.canonical == canonical
        assert where.columns == {"chromosome"}


def test_string_values_keep_their_case() -> None:
    assert parse_where("chromosome = 'ChrX'") != parse_where("chromosome = 'chrx'")


def test_split_into_region_and_interval_terms() -> None:
    where = parse_where("chromosome != 'chr8' AND condition IN ('liver','heart') AND p_value > 5")
    assert [t.sql() for t in where.region_terms] == ["chromosome <> 'chr8'"]
    assert [t.sql() for t in where.interval_terms] == [
        "condition IN ('liver', 'heart')",
        "p_value > 5",
    ]
    assert where.columns == {"chromosome", "condition", "p_value"}


@pytest.mark.parametrize(
    ("text", "num_region", "num_interval"),
    [
        ("(assembly = 'a' AND (chromosome = 'c' AND start = 1)) AND end = 2", 2, 2),
        ("chromosome = 'c' OR start = 1", 0, 1),  # an OR mixing both kinds labels only
        ("chromosome = 'c' OR chromosome_length > 5", 1, 0),
        ("NOT (species = 'x' AND assembly = 'y')", 1, 0),
        ("NOT (chromosome = 'c' AND start = 1)", 0, 1),
        ("start = 1", 0, 1),
    ],
)
def test_split_rule(text: str, num_region: int, num_interval: int) -> None:
    where = parse_where(text)
    assert (len(where.region_terms), len(where.interval_terms)) == (num_region, num_interval)
    for term in where.region_terms:
        assert _names(term.sql()) <= set(REGION_COLUMNS)
    for term in where.interval_terms:
        assert _names(term.sql()) & set(INTERVAL_COLUMNS)


def _names(sql: str) -> set[str]:
    return {word for word in re.findall(r"[a-z_]+", sql) if word in ALLOWED_COLUMNS}


def test_long_or_chain_is_accepted() -> None:
    text = " OR ".join(f"start = {k}" for k in range(600))
    where = parse_where(text)
    table = sa.table("t", sa.column("start"))
    clause = where.interval_clause({"start": table.c.start})
    assert clause is not None
    assert len(clause.compile().params) == 600


def test_nesting_up_to_the_limit_is_accepted() -> None:
    parse_where("(" * 32 + "start = 1" + ")" * 32)
    parse_where("NOT " * 32 + "start = 1")


def test_missing_column_mapping_is_reported() -> None:
    where = parse_where("p_value > 1")
    with pytest.raises(ConstraintError, match="'p_value' is not available"):
        where.interval_clause({"start": sa.column("start")})


# --- selections on SQLite and PostgreSQL, against Python ------------------------------------

TEXT_POOL = ["chr1", "chr2", "chr10", "chrX", "chrx", "ChrX", "a%b", "a_b", "aXb", "A!b",
             "a!b", "x\\y", "é", "É", "*?[", "[a]", "", "it's", "a--b", "ab"]  # fmt: skip
NUMBER_POOL = [-3.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.5, 4.0]
LIKE_ALPHABET = "aAxXb%_!*?[]\\é'-"


def _make_rows(num_rows: int = 48) -> list[dict[str, Any]]:
    rng = random.Random(20240601)
    rows = []
    for row_id in range(1, num_rows + 1):
        row: dict[str, Any] = {"id": row_id}
        for column in STORED_COLUMNS:
            if rng.random() < 0.2:
                row[column] = None
            elif column in TEXT_COLUMNS:
                row[column] = rng.choice(TEXT_POOL)
            elif column in INTEGER_COLUMNS:
                row[column] = rng.randint(-4, 6)
            else:
                row[column] = rng.choice(NUMBER_POOL)
        rows.append(row)
    return rows


ROWS = _make_rows()


def _table(collation: str | None) -> sa.Table:
    columns = [sa.Column("id", sa.Integer, primary_key=True)]
    for name in STORED_COLUMNS:
        kind: Any = sa.String(50, collation=collation) if name in TEXT_COLUMNS else sa.Float
        if name in INTEGER_COLUMNS:
            kind = sa.BigInteger
        columns.append(sa.Column(name, kind))
    return sa.Table("constraint_rows", sa.MetaData(), *columns)


def _locale_collation(engine: sa.Engine) -> str | None:
    """On PostgreSQL, a locale collation (as a lab server's default may be), so that text order
    by code point is really tested; this test server's default is C."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as connection:
        query = sa.text("SELECT collname FROM pg_collation WHERE collname = 'en-x-icu'")
        return connection.scalar(query)


@pytest.fixture
def catalog(db_url: str) -> Iterator[tuple[sa.Engine, sa.Table]]:
    engine = sa.create_engine(db_url)
    table = _table(_locale_collation(engine))
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), ROWS)
    yield engine, table
    engine.dispose()


def _mapping(table: sa.Table) -> dict[str, Any]:
    mapping: dict[str, Any] = {name: table.c[name] for name in STORED_COLUMNS}
    mapping["length"] = table.c.end - table.c.start
    return mapping


def _selected(engine: sa.Engine, table: sa.Table, clause: Any) -> set[int]:
    query = sa.select(table.c.id)
    if clause is not None:
        query = query.where(clause)
    with engine.connect() as connection:
        return set(connection.scalars(query))


# A generated constraint is a tuple tree:
#   ("cmp", column, spelling, op, value, flipped)  ("in", column, spelling, values, negated)
#   ("between", column, spelling, low, high, negated)  ("like", column, spelling, pattern, negated)
#   ("null", column, spelling, negated)  ("not", node)  ("and", a, b)  ("or", a, b)

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
FLIPPED = {"=": "=", "!=": "!=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@st.composite
def _column(draw: st.DrawFn, names: tuple[str, ...] = ALLOWED_COLUMNS) -> tuple[str, str]:
    name = draw(st.sampled_from(names))
    spelling = draw(st.sampled_from([name, name.upper(), name.title(), f'"{name.upper()}"']))
    return name, spelling


def _values(column: str) -> st.SearchStrategy[Any]:
    if column in TEXT_COLUMNS:
        return st.sampled_from(TEXT_POOL) | st.text(LIKE_ALPHABET, max_size=3)
    return st.integers(-6, 7) | st.sampled_from([-2.5, -0.5, 0.5, 1.5, 3.25, 1e-3])


@st.composite
def _leaf(draw: st.DrawFn) -> tuple[Any, ...]:
    name, spelling = draw(_column())
    kind = draw(st.sampled_from(["cmp", "cmp", "in", "between", "like", "null"]))
    if kind == "cmp":
        op = draw(st.sampled_from(list(OPERATORS)))
        return ("cmp", name, spelling, op, draw(_values(name)), draw(st.booleans()))
    if kind == "in":
        values = draw(st.lists(_values(name), min_size=1, max_size=4))
        return ("in", name, spelling, values, draw(st.booleans()))
    if kind == "between":
        low, high = draw(_values(name)), draw(_values(name))
        return ("between", name, spelling, low, high, draw(st.booleans()))
    if kind == "like":
        name, spelling = draw(_column(tuple(sorted(TEXT_COLUMNS))))
        pattern = draw(st.sampled_from(TEXT_POOL) | st.text(LIKE_ALPHABET, max_size=5))
        return ("like", name, spelling, pattern, draw(st.booleans()))
    return ("null", name, spelling, draw(st.booleans()))


TREES = st.recursive(
    _leaf(),
    lambda children: (
        st.tuples(st.sampled_from(["and", "or"]), children, children)
        | st.tuples(st.just("not"), children)
    ),
    max_leaves=6,
)


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _render(node: tuple[Any, ...], keyword: Callable[[str], str]) -> str:
    kind = node[0]
    if kind in ("and", "or"):
        return f"({_render(node[1], keyword)} {keyword(kind)} {_render(node[2], keyword)})"
    if kind == "not":
        return f"{keyword('not')} ({_render(node[1], keyword)})"
    spelling = node[2]
    negation = keyword("not ") if node[-1] else ""
    if kind == "cmp":
        _, _, _, op, value, flipped = node
        if flipped:
            return f"{_literal(value)} {FLIPPED[op]} {spelling}"
        return f"{spelling} {op} {_literal(value)}"
    if kind == "in":
        items = ", ".join(_literal(v) for v in node[3])
        return f"{spelling} {negation}{keyword('in')} ({items})"
    if kind == "between":
        low, high = _literal(node[3]), _literal(node[4])
        return f"{spelling} {negation}{keyword('between')} {low} {keyword('and')} {high}"
    if kind == "like":
        return f"{spelling} {negation}{keyword('like')} {_literal(node[3])}"
    return f"{spelling} {keyword('is')} {negation}{keyword('null')}"


def _like_matches(value: str, pattern: str) -> bool:
    wildcard = {"%": ".*", "_": "."}
    regex = "".join(wildcard.get(char, re.escape(char)) for char in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _value_of(row: dict[str, Any], column: str) -> Any:
    if column == "length":
        if row["start"] is None or row["end"] is None:
            return None
        return row["end"] - row["start"]
    return row[column]


def _evaluate(node: tuple[Any, ...], row: dict[str, Any]) -> bool | None:
    """SQL three-valued logic in Python: True, False or None (unknown)."""
    kind = node[0]
    if kind == "and":
        parts = [_evaluate(node[1], row), _evaluate(node[2], row)]
        return False if False in parts else (None if None in parts else True)
    if kind == "or":
        parts = [_evaluate(node[1], row), _evaluate(node[2], row)]
        return True if True in parts else (None if None in parts else False)
    if kind == "not":
        inner = _evaluate(node[1], row)
        return None if inner is None else not inner
    value = _value_of(row, node[1])
    if kind == "null":
        return (value is not None) if node[3] else (value is None)
    if value is None:
        return None
    if kind == "cmp":
        return OPERATORS[node[3]](value, node[4])
    if kind == "in":
        result = value in node[3]
    elif kind == "between":
        result = node[3] <= value <= node[4]
    else:
        result = _like_matches(value, node[3])
    return (not result) if node[-1] else result


def _top_terms(node: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    if node[0] == "and":
        return _top_terms(node[1]) + _top_terms(node[2])
    return [node]


def _columns_of(node: tuple[Any, ...]) -> set[str]:
    if node[0] in ("and", "or"):
        return _columns_of(node[1]) | _columns_of(node[2])
    if node[0] == "not":
        return _columns_of(node[1])
    return {node[1]}


def _rows_where(terms: list[tuple[Any, ...]]) -> set[int]:
    return {row["id"] for row in ROWS if all(_evaluate(t, row) is True for t in terms)}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    trees=st.lists(TREES, min_size=1, max_size=3),
    upper=st.booleans(),
    prefix=st.sampled_from(["", "WHERE ", "where "]),
)
def test_selection_matches_python_evaluation(
    catalog: tuple[sa.Engine, sa.Table], trees: list[tuple[Any, ...]], upper: bool, prefix: str
) -> None:
    engine, table = catalog
    keyword = str.upper if upper else str.lower
    text = prefix + f" {keyword('and')} ".join(_render(tree, keyword) for tree in trees)
    where = parse_where(text)
    mapping = _mapping(table)

    terms = [term for tree in trees for term in _top_terms(tree)]
    region = [t for t in terms if _columns_of(t) <= set(REGION_COLUMNS)]
    interval = [t for t in terms if not _columns_of(t) <= set(REGION_COLUMNS)]
    assert len(where.region_terms) == len(region)
    assert len(where.interval_terms) == len(interval)
    assert where.columns == set().union(*(_columns_of(t) for t in terms))

    assert _selected(engine, table, where.region_clause(mapping)) == _rows_where(region)
    assert _selected(engine, table, where.interval_clause(mapping)) == _rows_where(interval)
    clauses = [where.region_clause(mapping), where.interval_clause(mapping)]
    both = sa.and_(sa.true(), *(clause for clause in clauses if clause is not None))
    assert _selected(engine, table, both) == _rows_where(terms)

    again = parse_where(where.canonical)
    assert again == where
    assert _selected(engine, table, again.interval_clause(mapping)) == _rows_where(interval)


def test_like_is_case_sensitive_with_literal_specials(catalog: tuple[sa.Engine, sa.Table]) -> None:
    engine, table = catalog
    mapping = _mapping(table)
    patterns = ["chrx", "CHR%", "a!b", "A!%", "x\\y", "*?[", "a*", "a?b", "[a]", "[%", "%]", "%\\%"]
    for pattern in [*patterns, "_", "é", "É", "%", ""]:
        where = parse_where(f"name LIKE {_literal(pattern)}")
        expected = {
            row["id"]
            for row in ROWS
            if row["name"] is not None and _like_matches(row["name"], pattern)
        }
        assert _selected(engine, table, where.interval_clause(mapping)) == expected, pattern


@pytest.mark.parametrize("op", list(OPERATORS))
def test_literal_on_the_left_reads_mirrored(catalog: tuple[sa.Engine, sa.Table], op: str) -> None:
    engine, table = catalog
    where = parse_where(f"2 {op} start AND 'chr2' {op} chromosome")
    expected = {
        row["id"]
        for row in ROWS
        if row["start"] is not None
        and OPERATORS[op](2, row["start"])
        and row["chromosome"] is not None
        and OPERATORS[op]("chr2", row["chromosome"])
    }
    mapping = _mapping(table)
    clause = sa.and_(where.region_clause(mapping), where.interval_clause(mapping))
    assert _selected(engine, table, clause) == expected
    mirrored = FLIPPED[op].replace("!=", "<>")
    assert where.canonical == f"start {mirrored} 2 AND chromosome {mirrored} 'chr2'"


def test_text_order_is_by_code_point(catalog: tuple[sa.Engine, sa.Table]) -> None:
    engine, table = catalog
    where = parse_where("name < 'a' AND chromosome BETWEEN 'C' AND 'chr2'")
    expected = {
        row["id"]
        for row in ROWS
        if row["name"] is not None
        and row["name"] < "a"
        and row["chromosome"] is not None
        and "C" <= row["chromosome"] <= "chr2"
    }
    assert expected  # the rows hold both cases, so locale order would differ
    clause = sa.and_(where.region_clause(_mapping(table)), where.interval_clause(_mapping(table)))
    assert _selected(engine, table, clause) == expected


# --- hostile input --------------------------------------------------------------------------

BIG = {"max_length": 10_000_000}
HOSTILE: list[tuple[str, str, dict[str, int]]] = [
    ("chromosome = 'x' OR 1=1; DROP TABLE intervals", "';'", {}),
    ("chromosome = ''; DROP TABLE x; --'", "';'", {}),
    ("'; DROP TABLE x; --", "unterminated string", {}),
    ("chromosome = 'chr1'; SELECT 1", "';'", {}),
    ("start = 1;", "';'", {}),
    ("start = 1 -- trailing comment", "comment '--", {}),
    ("start = 1 /* block */", "comment '/*", {}),
    ("start = 1/**/OR 1=1", "comment '/*", {}),
    ("start = 1 /* unterminated", "'/*'", {}),
    ("start = 1 # hash comment", "'#'", {}),
    ("lower(name) = 'x'", "function 'lower'", {}),
    ("sqlite_version() = '3'", "function 'sqlite_version'", {}),
    ("pg_sleep(10) IS NULL", "function 'pg_sleep'", {}),
    ("name = upper('x')", "function 'upper'", {}),
    ("chromosome IN (SELECT name FROM chromosomes)", "'SELECT'", {}),
    ("EXISTS (SELECT 1)", "'EXISTS'", {}),
    ("start = 1 UNION SELECT 1", "'UNION'", {}),
    ("CASE WHEN start > 1 THEN 1 ELSE 0 END = 1", "'CASE'", {}),
    ("start::text = '1'", "'::'", {}),
    ("CAST(start AS TEXT) = '1'", "'CAST'", {}),
    ("DROP TABLE intervals", "'DROP'", {}),
    ("chrom = 'chr1'", "unknown column 'chrom'", {}),
    ('"chromosome x" = 1', "unknown column 'chromosome x'", {}),
    ("intervals.start = 1", "table-qualified column 'intervals.start'", {}),
    ("* = 1", "'*'", {}),
    ("start = ?", "'?'", {}),
    ("start = :x", "':'", {}),
    ("start = $1", "placeholder '$1'", {}),
    ("start = @x", "'@'", {}),
    ("chromosome = $$x$$", "'$$x$$'", {}),
    ("chromosome = 'x'；DROP TABLE intervals", "U+FF1B", {}),
    ("chromosome = ＇x＇", "U+FF07", {}),
    ("chromosome\u200b = 'x'", "U+200B", {}),
    ("chromosome = 'x'\u200b", "U+200B", {}),
    ("ｃhromosome = 'x'", "U+FF43", {}),
    ("сhromosome = 'x'", "U+0441", {}),  # Cyrillic es
    ("start = ١", "U+0661", {}),  # Arabic-Indic digit one
    ("1 = 1", "a term must compare a column", {}),
    ("chromosome = 'x' OR 'a' = 'a'", "a term must compare a column", {}),
    ("start = end", "column 'end'", {}),
    ("start BETWEEN 1 AND end", "column 'end'", {}),
    ("start + 1 = 2", "'+'", {}),
    ("chromosome = 'x' || 'y'", "'||'", {}),
    ("chromosome = 5", "column 'chromosome' holds text but 5", {}),
    ("p_value > 'abc'", "column 'p_value' is numeric but 'abc'", {}),
    ("score LIKE '1%'", "numeric column 'score'", {}),
    ("chromosome = NULL", "NULL", {}),
    ("start IN (1, NULL)", "NULL", {}),
    ("start = TRUE", "'TRUE'", {}),
    ("start = 1e400", "'1e400'", {}),
    ("start = 99999999999999999999999", "'99999999999999999999999'", {}),
    ("start = -'5'", "unary minus", {}),
    ("name ILIKE 'x'", "'ILIKE'", {}),
    ("name LIKE 'x' ESCAPE '!'", "'ESCAPE'", {}),
    ("chromosome = 'x' COLLATE \"C\"", "'COLLATE'", {}),
    ("chromosome == 'x'", "'=='", {}),
    ("! start = 1", "'!'", {}),
    ("chromosome = N'x'", "N'x'", {}),
    ("start IN ()", "empty IN list", {}),
    ("start = 1 AND", "cannot parse", {}),
    ("start = 1 start = 2", "cannot parse", {}),
    ("WHERE WHERE start = 1", "'WHERE'", {}),
    ("start = 1 WHERE start = 2", "'WHERE'", {}),
    ("name = 'x\x00'", "U+0000", {}),
    ("start IN (" + ", ".join(map(str, range(10_000))) + ")", "characters long", {}),
    ("start IN (" + ", ".join(map(str, range(10_000))) + ")", "10000 items", BIG),
    ("name = '" + "x" * 1_000_000 + "'", "characters long", {}),
    ("name = '" + "x" * 1_000_000 + "'", "string literal 'xxxx", BIG),
    ("(" * 10_000 + "start = 1" + ")" * 10_000, "characters long", {}),
    ("(" * 10_000 + "start = 1" + ")" * 10_000, "nested too deeply", BIG),
    ("NOT " * 10_000 + "start = 1", "nested too deeply", BIG),
    ("NOT (" * 5_000 + "start = 1" + ")" * 5_000, "nested too deeply", BIG),
]


@pytest.mark.parametrize(
    ("text", "fragment", "options"),
    HOSTILE,
    ids=[f"{k}:{c[0][:30]!r}" for k, c in enumerate(HOSTILE)],
)
def test_hostile_input_is_rejected_naming_the_token(
    text: str, fragment: str, options: dict[str, int]
) -> None:
    with pytest.raises(ConstraintError) as raised:
        parse_where(text, **options)
    message = str(raised.value)
    assert fragment.lower() in message.lower(), message
    assert "Allowed: columns assembly, species, chromosome" in message
    assert len(message) < 1_000  # a 1 MB token is named, not echoed


def test_hostile_corpus_leaves_the_database_unchanged(catalog: tuple[sa.Engine, sa.Table]) -> None:
    engine, table = catalog

    def snapshot() -> tuple[list[str], int]:
        with engine.connect() as connection:
            names = sorted(sa.inspect(connection).get_table_names())
            count = connection.scalar(sa.select(sa.func.count()).select_from(table))
        return names, count

    before = snapshot()
    assert before == (["constraint_rows"], len(ROWS))
    for text, _, options in HOSTILE:
        try:
            where = parse_where(text, **options)
        except ConstraintError:
            continue
        _selected(engine, table, where.interval_clause(_mapping(table)))  # would show the harm
        pytest.fail(f"accepted {text[:60]!r}")
    assert snapshot() == before
