"""The numpy three-valued evaluator (``store_filter``) selects exactly what SQL selects.

Random constraints (the generator of ``test_constraints``) over random rows with NULLs, run
by SQL on SQLite and PostgreSQL (a locale collation there) and by the evaluator over the same
rows as columns: text dictionary-encoded, numbers with a known mask, and the condition
column constant per part as the plan evaluates it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaksql.server.catalog.columns import TEXT_COLUMNS
from peaksql.server.engine.constraints import parse_where
from peaksql.server.engine.store_filter import Column, Numeric, Text, constant, select
from tests.test_constraints import (  # noqa: F401 (catalog is a fixture)
    ROWS,
    STORED_COLUMNS,
    TREES,
    _mapping,
    _render,
    _selected,
    catalog,
)


def _columns_of(rows: list[dict[str, Any]]) -> dict[str, Column]:
    columns: dict[str, Column] = {}
    for name in STORED_COLUMNS:
        values = [row[name] for row in rows]
        if name in TEXT_COLUMNS:
            table = sorted({v for v in values if v is not None})
            codes = np.array([-1 if v is None else table.index(v) for v in values], np.int32)
            columns[name] = Text(codes, table)
        else:
            known = np.array([v is not None for v in values])
            numbers = np.array([0 if v is None else v for v in values], dtype=np.float64)
            if name in ("start", "end", "summit", "chromosome_length"):
                numbers = numbers.astype(np.int64)
            columns[name] = Numeric(numbers, known)
    start, end = columns["start"], columns["end"]
    assert isinstance(start, Numeric) and isinstance(end, Numeric)
    columns["length"] = Numeric(end.values - start.values, start.known & end.known)
    return columns


def _evaluated(text: str, rows: list[dict[str, Any]], constant_condition: bool) -> set[int]:
    """Rows the evaluator keeps; with ``constant_condition`` the rows are split into parts
    by condition, whose column is then a constant of the part."""
    where = parse_where(text)
    terms = (*where.region_terms, *where.interval_terms)
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["condition"] if constant_condition else 0, []).append(row)
    kept: set[int] = set()
    for key, part in groups.items():
        columns = _columns_of(part)
        if constant_condition:
            columns["condition"] = constant(key)
        chosen = select(terms, columns.__getitem__)
        if chosen is None:
            continue
        chosen = np.broadcast_to(chosen, (len(part),))
        kept |= {row["id"] for row, c in zip(part, chosen, strict=True) if c}
    return kept


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(trees=st.lists(TREES, min_size=1, max_size=3), constant_condition=st.booleans())
def test_numpy_evaluation_matches_sql(
    catalog: tuple[sa.Engine, sa.Table],  # noqa: F811
    trees: list[tuple[Any, ...]],
    constant_condition: bool,
) -> None:
    engine, table = catalog
    text = " AND ".join(_render(tree, str.upper) for tree in trees)
    where = parse_where(text)
    mapping = _mapping(table)
    clauses = [where.region_clause(mapping), where.interval_clause(mapping)]
    both = sa.and_(sa.true(), *(clause for clause in clauses if clause is not None))
    assert _evaluated(text, ROWS, constant_condition) == _selected(engine, table, both)


def test_a_constant_term_rejects_a_part_without_reading_columns() -> None:
    def lookup(name: str) -> Column:
        if name == "condition":
            return constant("liver")
        raise AssertionError(f"read column {name}")

    where = parse_where("condition IN ('heart', 'lung') AND p_value > 25")
    assert select(where.interval_terms, lookup) is None
