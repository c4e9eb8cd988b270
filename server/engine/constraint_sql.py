"""Compilation of a checked constraint to SQLAlchemy, per dialect (see ``constraints``):
literals as bound parameters, case-sensitive LIKE and code-point ordering of text on both
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlglot import exp

from peaksql.server.catalog.columns import TEXT_COLUMNS
from peaksql.server.catalog.schema import condition_metadata
from peaksql.server.engine.constraint_tokens import reject
from peaksql.server.engine.constraint_tree import COMPARISONS, operands

_ORDERING = (exp.LT, exp.LTE, exp.GT, exp.GTE)


@dataclass(frozen=True)
class MetadataColumn:
    """A condition metadata key as a constraint column (see ``catalog.condition_metadata``).

    A string literal compares with the key's text value, a number with its number value; a
    condition without the key (or with a value of the other kind) reads NULL, which no
    comparison selects; ``key IS NULL`` selects the conditions without the key.
    """

    text: ColumnElement[Any]
    number: ColumnElement[Any]
    present: ColumnElement[bool]


def metadata_column(key: str, condition_id: ColumnElement[Any]) -> MetadataColumn:
    """Key ``key`` of the condition whose id is ``condition_id`` (correlated subqueries on
    the ``condition_metadata`` primary key; the key itself a bound parameter)."""
    match = sa.and_(
        condition_metadata.c.condition_id == condition_id,
        condition_metadata.c.key == sa.literal(key, sa.String()),
    )
    return MetadataColumn(
        sa.select(condition_metadata.c.value_text).where(match).scalar_subquery(),
        sa.select(condition_metadata.c.value_number).where(match).scalar_subquery(),
        sa.exists().where(match),
    )


def compile_terms(
    terms: tuple[exp.Expression, ...], columns: Mapping[str, ColumnElement[Any]]
) -> ColumnElement[bool] | None:
    if not terms:
        return None
    return sa.and_(*(_compile(term, columns) for term in terms))


def _compile(node: exp.Expression, columns: Mapping[str, ColumnElement[Any]]) -> Any:
    """A normalised term as a SQLAlchemy expression; every literal a bound parameter."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And | exp.Or):
        combine = sa.and_ if isinstance(node, exp.And) else sa.or_
        return combine(*(_compile(part, columns) for part in operands(node, type(node))))
    if isinstance(node, exp.Not):
        return sa.not_(_compile(node.this, columns))
    name = node.this.name
    if name not in columns:
        raise reject(f"column {name!r} is not available here")
    column = columns[name]
    if isinstance(column, MetadataColumn):
        return _compile_metadata(node, column)
    if isinstance(node, exp.Is):
        return column.is_(None)
    if isinstance(node, exp.Like):
        return _CaseSensitiveLike(column, str(_value(node.expression)))
    if name in TEXT_COLUMNS and isinstance(node, (*_ORDERING, exp.Between)):
        column = _CodePointOrder(column)
    if isinstance(node, exp.In):
        return column.in_([_bind(item) for item in node.expressions])
    if isinstance(node, exp.Between):
        return column.between(_bind(node.args["low"]), _bind(node.args["high"]))
    return COMPARISONS[type(node)](column, _bind(node.expression))


def _compile_metadata(node: exp.Expression, column: MetadataColumn) -> Any:
    """A term on a metadata key: text or number value by the literal's kind."""
    if isinstance(node, exp.Is):
        return sa.not_(column.present)
    if isinstance(node, exp.Like):
        return _CaseSensitiveLike(column.text, str(_value(node.expression)))
    if isinstance(node, exp.In):
        texts = [_bind(i) for i in node.expressions if i.is_string]
        numbers = [_bind(i) for i in node.expressions if not i.is_string]
        parts = ([column.text.in_(texts)] if texts else []) + (
            [column.number.in_(numbers)] if numbers else []
        )
        return sa.or_(*parts)
    literal = node.args["low"] if isinstance(node, exp.Between) else node.expression
    value: Any = column.number
    if literal.is_string:
        ordered = isinstance(node, (*_ORDERING, exp.Between))
        value = _CodePointOrder(column.text) if ordered else column.text
    if isinstance(node, exp.Between):
        return value.between(_bind(node.args["low"]), _bind(node.args["high"]))
    return COMPARISONS[type(node)](value, _bind(node.expression))


def _value(literal: exp.Literal) -> str | int | float:
    if literal.is_string:
        return literal.this
    text = literal.this
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _bind(literal: exp.Literal) -> sa.BindParameter[Any]:
    """A bound parameter with an explicit type (a float stays a float next to an int column)."""
    value = _value(literal)
    kind: sa.types.TypeEngine[Any]
    if isinstance(value, str):
        kind = sa.String()
    elif isinstance(value, float):
        kind = sa.Float()
    else:
        kind = sa.BigInteger()
    return sa.literal(value, kind)


def _like_escaped(pattern: str) -> str:
    """The pattern for ``LIKE ... ESCAPE '!'``: ``!`` doubled, ``%`` and ``_`` stay wildcards."""
    return pattern.replace("!", "!!")


def _like_as_glob(pattern: str) -> str:
    """The GLOB pattern matching what LIKE ``pattern`` matches, case-sensitively."""
    special = {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}
    return "".join(special.get(char, char) for char in pattern)


class _CaseSensitiveLike(ColumnElement[bool]):
    """``column LIKE pattern``, case-sensitive on every backend (GLOB on SQLite).

    Both dialects' patterns are bound up front, so SQLAlchemy's statement cache stays valid.
    """

    __visit_name__ = "peaksql_like"
    inherit_cache = True
    type = sa.Boolean()
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        ("column", InternalTraversal.dp_clauseelement),
        ("like_pattern", InternalTraversal.dp_clauseelement),
        ("glob_pattern", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], pattern: str) -> None:
        self.column = column
        self.like_pattern = sa.literal(_like_escaped(pattern), sa.String())
        self.glob_pattern = sa.literal(_like_as_glob(pattern), sa.String())


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"({column} LIKE {compiler.process(element.like_pattern, **kw)} ESCAPE '!')"


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_like_sqlite(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"({column} GLOB {compiler.process(element.glob_pattern, **kw)})"


class _CodePointOrder(ColumnElement[str]):
    """A text expression ordered by code point: ``COLLATE "C"`` on PostgreSQL, as is elsewhere."""

    __visit_name__ = "peaksql_code_point_order"
    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        ("inner", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, inner: ColumnElement[Any]) -> None:
        self.inner = inner
        self.type = inner.type


@compiles(_CodePointOrder)
def _compile_order(element: _CodePointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.inner, **kw)


@compiles(_CodePointOrder, "postgresql")
def _compile_order_postgresql(element: _CodePointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return f'({compiler.process(element.inner, **kw)} COLLATE "C")'
