"""Condition metadata keys as constraint columns: allow-listed per catalog, refused when they
collide with built-in columns, compiled with bound parameters, the same rows on SQLite and
PostgreSQL as a Python evaluation (hypothesis), and shown by ListConditions.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import peaksql
from peaksql.core.errors import ConstraintError, InvalidArgument
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.condition_metadata import metadata_keys, replace_metadata_rows
from peaksql.server.catalog.database import open_database
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.schema import conditions
from peaksql.server.engine.constraints import parse_where
from peaksql.server.engine.plan import compile_plan
from peaksql.server.engine.plan_conditions import selected_condition_ids
from peaksql.server.ingest.intervals import add_data
from peaksql.v1 import peaksql_pb2 as pb
from tests.conftest import _postgres_available, postgres_schema
from tests.servers import build_catalog, running_server, write_inputs

# --- ingest and the allow-list ----------------------------------------------------------------


@pytest.fixture
def catalog(db_url: str, data_dir: Path) -> tuple[str, Path]:
    """The servers' catalog (assembly mini, heart and liver) with metadata on both."""
    build_catalog(db_url, data_dir)
    engine = open_database(db_url, data_dir=data_dir)
    _, peaks = write_inputs(data_dir.parent / "inputs")
    add_data(
        engine,
        peaks[0],
        "mini",
        "heart",
        append=True,
        progress=False,
        metadata={"tissue": "heart", "assay": "ChIP-seq", "replicate": 1},
    )
    add_data(
        engine,
        peaks[1],
        "mini",
        "liver",
        append=True,
        progress=False,
        metadata={"tissue": "liver", "assay": "ChIP-seq", "replicate": 2, "Cell Type": "hep"},
    )
    engine.dispose()
    return db_url, data_dir


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"name": "x"}, "metadata key 'name' is the name of a built-in constraint column"),
        ({"Assembly": "x"}, "metadata key 'Assembly' is the name of a built-in constraint column"),
        ({"tissue": "a", "Tissue": "b"}, "metadata keys 'tissue' and 'Tissue' differ only by case"),
        ({"": 1}, "a key must be a non-empty string"),
    ],
)
def test_colliding_metadata_keys_are_refused_at_ingest(catalog, metadata, message) -> None:  # type: ignore[no-untyped-def]
    db_url, data_dir = catalog
    engine = open_database(db_url, data_dir=data_dir)
    _, peaks = write_inputs(data_dir.parent / "inputs")
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        add_data(engine, peaks[0], "mini", "new", metadata=metadata, progress=False)
    with engine.connect() as connection:
        assert "new" not in set(connection.scalars(sa.select(conditions.c.name)))
    engine.dispose()


def test_keys_are_columns_only_where_the_catalog_holds_them(catalog) -> None:  # type: ignore[no-untyped-def]
    engine = open_database(catalog[0])
    with engine.connect() as connection:
        keys = metadata_keys(connection)
    assert keys == {"tissue", "assay", "replicate", "cell type"}
    with pytest.raises(ConstraintError, match="unknown column 'tissue'"):
        parse_where("tissue = 'liver'")
    with pytest.raises(ConstraintError, match=r"unknown column 'tisue'.*metadata keys.*tissue"):
        parse_where("tisue = 'liver'", metadata_keys=keys)
    where = parse_where("Tissue = 'liver' AND \"Cell Type\" LIKE 'he%'", metadata_keys=keys)
    assert where.metadata_columns == {"tissue", "cell type"}
    assert len(where.condition_terms) == 2 and not where.label_terms
    assert parse_where(where.canonical, metadata_keys=keys) == where
    with pytest.raises(ConstraintError, match="LIKE takes a string pattern"):
        parse_where("replicate LIKE 5", metadata_keys=keys)
    engine.dispose()


@pytest.mark.parametrize(
    ("where", "columns"),
    [
        ("tissue = 'liver' AND assay = 'ChIP-seq'", ["liver"]),
        ("replicate >= 1", ["heart", "liver"]),
        ("replicate > 1.5 OR tissue = 'heart'", ["heart", "liver"]),
        ('"cell type" IS NULL', ["heart"]),
        ("tissue IN ('heart', 7)", ["heart"]),
        ("tissue = 'liver' OR p_value > 1000", ["liver"]),  # mixed: a label term
        ("NOT tissue LIKE 'li%' AND condition != 'x_none'", None),  # x_none: unknown name
    ],
)
def test_plans_select_label_columns_by_metadata(catalog, where: str, columns) -> None:  # type: ignore[no-untyped-def]
    db_url, data_dir = catalog
    engine = open_database(db_url, data_dir=data_dir)
    spec = DatasetSpec(seq_length=200, stride=200, where=where)
    try:
        if columns is None:
            with pytest.raises(LookupError, match="'x_none'"):
                compile_plan(engine, GenomeStore(data_dir), spec)
        else:
            assert compile_plan(engine, GenomeStore(data_dir), spec).label_columns == columns
    finally:
        engine.dispose()


def test_list_conditions_and_describe_over_grpc(catalog) -> None:  # type: ignore[no-untyped-def]
    with running_server(*catalog) as server, peaksql.Client(f"127.0.0.1:{server.port}") as client:
        response = client.call("ListConditions", pb.ListConditionsRequest())
        shown = {c.name: json.loads(c.metadata) for c in response.conditions}
        assert shown["liver"] == {
            "tissue": "liver",
            "assay": "ChIP-seq",
            "replicate": 2,
            "Cell Type": "hep",
        }
        spec = DatasetSpec(seq_length=200, stride=200, where="tissue = 'liver'")
        description = client.describe(spec)
        assert description.label_columns == ("liver",)
        assert description.interval_constraint == "tissue = 'liver'"
        _x, y = next(iter(client.dataset(seq_length=200, stride=200, where="tissue = 'heart'")))
        assert y.shape[1] == 1


# --- SQLite and PostgreSQL agree with Python (hypothesis) ----------------------------------------

KEYS = ("tissue", "dose", "flag")
VALUES = st.one_of(
    st.none(),
    st.sampled_from(["liver", "Liver", "heart", "li_ver", "b%", ""]),
    st.integers(-3, 3),
    st.sampled_from([0.5, 2.5]),
    st.booleans(),
)
LITERALS = st.one_of(
    st.sampled_from(["liver", "Liver", "heart", "true", "a", ""]), st.integers(-3, 3), st.just(1.5)
)


def _literal_sql(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else repr(value)


@st.composite
def terms(draw: st.DrawFn, depth: int = 0) -> tuple[str, Any]:
    """(sql text, python predicate over a condition's metadata dict) with SQL 3VL."""
    key = draw(st.sampled_from(KEYS))
    kind = draw(
        st.sampled_from(
            ["cmp", "in", "like", "null", "between"] + (["not", "or", "and"] if depth < 2 else [])
        )
    )
    if kind in ("not", "or", "and"):
        a_sql, a = draw(terms(depth + 1))
        if kind == "not":
            return f"NOT ({a_sql})", lambda m: None if a(m) is None else not a(m)
        b_sql, b = draw(terms(depth + 1))
        if kind == "or":
            return f"({a_sql}) OR ({b_sql})", lambda m: _or(a(m), b(m))
        return f"({a_sql}) AND ({b_sql})", lambda m: _and(a(m), b(m))
    if kind == "null":
        return f"{key} IS NULL", lambda m: m.get(key) is None
    if kind == "like":
        pattern = draw(st.sampled_from(["li%", "L_ver", "%e%", "b!%", "%"]))
        regex = re.compile(
            "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
            + r"\Z",
            re.S,
        )
        return f"{key} LIKE '{pattern}'", lambda m: _maybe(
            _text(m, key), lambda v: bool(regex.match(v))
        )
    if kind == "in":
        items = draw(st.lists(LITERALS, min_size=1, max_size=3))
        sql = f"{key} IN ({', '.join(_literal_sql(i) for i in items)})"
        return sql, lambda m: _any([_compare(m, key, "=", i) for i in items])
    if kind == "between":
        low, high = sorted(draw(st.lists(st.integers(-3, 3), min_size=2, max_size=2)))
        return f"{key} BETWEEN {low} AND {high}", lambda m: _and(
            _compare(m, key, ">=", low), _compare(m, key, "<=", high)
        )
    op = draw(st.sampled_from(["=", "!=", "<", ">=", ">"]))
    value = draw(LITERALS)
    return f"{key} {op} {_literal_sql(value)}", lambda m: _compare(m, key, op, value)


def _text(m: dict[str, Any], key: str) -> str | None:
    v = m.get(key)
    if isinstance(v, bool):
        return json.dumps(v)
    return v if isinstance(v, str) else None


def _compare(m: dict[str, Any], key: str, op: str, literal: Any) -> bool | None:
    v = m.get(key)
    if isinstance(literal, str):
        v = _text(m, key)
    elif isinstance(v, bool) or not isinstance(v, int | float):
        v = None
    if v is None:
        return None
    return {
        "=": v == literal,
        "!=": v != literal,
        "<": v < literal,
        "<=": v <= literal,
        ">=": v >= literal,
        ">": v > literal,
    }[op]


def _maybe(v: Any, f: Any) -> bool | None:
    return None if v is None else f(v)


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _any(values: list[bool | None]) -> bool | None:
    result: bool | None = False
    for v in values:
        result = _or(result, v)
    return result


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, sa.Engine]]:
    """An SQLite catalog, and a PostgreSQL one when reachable (schema dropped afterwards)."""
    found = {"sqlite": open_database(tmp_path_factory.mktemp("meta") / "catalog.db")}
    with contextlib.ExitStack() as stack:
        if _postgres_available():
            found["postgres"] = open_database(stack.enter_context(postgres_schema()))
        yield found
        for engine in found.values():
            engine.dispose()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    metadata=st.lists(
        st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=3), min_size=1, max_size=6
    ),
    term=terms(),
)
def test_metadata_constraints_match_python_on_both_backends(engines, metadata, term) -> None:  # type: ignore[no-untyped-def]
    sql, predicate = term
    expected = [i for i, m in enumerate(metadata) if predicate(m) is True]
    where = parse_where(sql, metadata_keys=frozenset(KEYS))
    for name, engine in engines.items():
        with engine.connect() as connection, connection.begin() as transaction:
            ids = []
            for m in metadata:
                condition_id = connection.execute(
                    conditions.insert().values(name=f"c{uuid.uuid4().hex[:8]}")
                ).inserted_primary_key[0]
                replace_metadata_rows(connection, condition_id, m)
                ids.append(condition_id)
            selected = selected_condition_ids(connection, where)
            transaction.rollback()
        assert [ids.index(i) for i in selected] == expected, (name, sql, metadata)
