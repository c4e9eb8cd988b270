"""Interval terms of a constraint evaluated over columns in numpy, with SQL's three-valued logic.

The plan evaluates a ``Where``'s interval terms part by part over the interval store's
columns (``select``), with exactly the rows SQL would select on SQLite and PostgreSQL
(``tests/test_store_filter.py`` compares the two with hypothesis).

A truth value is a pair of boolean arrays ``(value, known)``: known False is SQL's NULL
(unknown). AND is false when either side is known false; OR is true when either side is known
true; NOT keeps ``known``; a row is selected when ``value & known``. Arrays broadcast: a
column constant over the part (the condition's name and its metadata, the assembly, the
species) is a 0-d array, so a term on constants only is evaluated once per part and a part it
rejects is skipped without reading a column. Text columns are dictionary-encoded: a term is
evaluated on the distinct texts (``LIKE`` by a regular expression per distinct text), then
gathered by code. Numbers compare as float64 with integers exact below 2**53, as the
databases compare a float with an integer column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlglot import exp

from peaksql.server.engine.constraint_tree import COMPARISONS, operands

Truth = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Numeric:
    """A numeric column: ``values`` where ``known`` (both broadcastable to the part)."""

    values: np.ndarray
    known: np.ndarray


@dataclass(frozen=True)
class Text:
    """A text column: ``table[codes]``, code -1 is NULL; ``table`` holds Python strings."""

    codes: np.ndarray
    table: list[str]


@dataclass(frozen=True)
class Null:
    """A column NULL over the whole part (a column the part's format lacks): every
    comparison is unknown, IS NULL is true."""


@dataclass(frozen=True)
class Metadata:
    """A condition metadata key over a part (constant: the part's condition has one value).

    As ``constraint_sql.MetadataColumn`` compiles it: a string literal compares with the
    key's text value, a number with its number value; the other kind (or no value) is NULL;
    ``IS NULL`` is true when the condition has no value for the key.
    """

    text: str | None
    number: float | None


Column = Numeric | Text | Null | Metadata
#: column name -> its Column over the current part (KeyError: not available).
Columns = Callable[[str], Column]

_TRUE = np.ones((), dtype=bool)


def constant(value: str | float | None) -> Numeric | Text | Null:
    """A column with one value over the whole part (None: NULL)."""
    if value is None:
        return Null()
    if isinstance(value, str):
        return Text(np.zeros((), np.int32), [value])
    return Numeric(np.asarray(value, dtype=np.float64), _TRUE)


def select(terms: tuple[exp.Expression, ...], columns: Columns) -> np.ndarray | None:
    """The rows every term selects (bool array, or 0-d), None when a constant term already
    rejects every row. Terms are evaluated in order and stop at a constant rejection."""
    selected: np.ndarray = _TRUE
    for term in terms:
        value, known = evaluate(term, columns)
        chosen = value & known
        if chosen.ndim == 0 and not chosen:
            return None
        selected = selected & chosen
    return selected


def evaluate(node: exp.Expression, columns: Columns) -> Truth:
    """One normalised term (see ``constraint_tree``) as (value, known)."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And | exp.Or):
        parts = [evaluate(part, columns) for part in operands(node, type(node))]
        combine = _and if isinstance(node, exp.And) else _or
        result = parts[0]
        for part in parts[1:]:
            result = combine(result, part)
        return result
    if isinstance(node, exp.Not):
        value, known = evaluate(node.this, columns)
        return ~value, known
    column = columns(node.this.name)
    if isinstance(column, Metadata):
        return _metadata_term(node, column)
    return _term(node, column)


def _term(node: exp.Expression, column: Numeric | Text | Null) -> Truth:
    if isinstance(column, Null):
        unknown = np.zeros((), dtype=bool)
        return (~unknown, _TRUE) if isinstance(node, exp.Is) else (unknown, unknown)
    if isinstance(node, exp.Is):
        known = column.codes >= 0 if isinstance(column, Text) else column.known
        return ~known, _TRUE
    if isinstance(column, Text):
        return _text_term(node, column)
    return _numeric_term(node, column)


def _metadata_term(node: exp.Expression, column: Metadata) -> Truth:
    """A term on a metadata key: its text or number value by the literal's kind."""
    text, number = constant(column.text), constant(column.number)
    if isinstance(node, exp.Is):
        absent = column.text is None and column.number is None
        return np.asarray(absent), _TRUE
    if isinstance(node, exp.Like):
        return _term(node, text)
    if isinstance(node, exp.In):
        texts = [item for item in node.expressions if item.is_string]
        numbers = [item for item in node.expressions if not item.is_string]
        parts = [_term(exp.In(this=node.this, expressions=texts), text)] if texts else []
        if numbers:
            parts.append(_term(exp.In(this=node.this, expressions=numbers), number))
        result = parts[0]
        for part in parts[1:]:
            result = _or(result, part)
        return result
    literal = node.args["low"] if isinstance(node, exp.Between) else node.expression
    return _term(node, text if literal.is_string else number)


def _and(a: Truth, b: Truth) -> Truth:
    (va, ka), (vb, kb) = a, b
    false_a, false_b = ka & ~va, kb & ~vb
    return va & vb & ka & kb, (ka & kb) | false_a | false_b


def _or(a: Truth, b: Truth) -> Truth:
    (va, ka), (vb, kb) = a, b
    true = (va & ka) | (vb & kb)
    return true, (ka & kb) | true


def _literal(node: exp.Expression) -> str | int | float:
    if node.is_string:
        return node.this
    text = node.this
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _numeric_term(node: exp.Expression, column: Numeric) -> Truth:
    values = column.values
    if isinstance(node, exp.In):
        value = np.isin(values, [_literal(item) for item in node.expressions])
    elif isinstance(node, exp.Between):
        low, high = _literal(node.args["low"]), _literal(node.args["high"])
        value = (values >= low) & (values <= high)
    else:
        value = COMPARISONS[type(node)](values, _literal(node.expression))
    return np.asarray(value) & column.known, column.known


def _text_term(node: exp.Expression, column: Text) -> Truth:
    """Evaluate on the distinct texts, then gather by code (-1 -> unknown)."""
    table = column.table
    if isinstance(node, exp.Like):
        pattern = _like_regex(str(_literal(node.expression)))
        hits = [pattern.fullmatch(text) is not None for text in table]
    elif isinstance(node, exp.In):
        wanted = {_literal(item) for item in node.expressions}
        hits = [text in wanted for text in table]
    elif isinstance(node, exp.Between):
        low, high = _literal(node.args["low"]), _literal(node.args["high"])
        hits = [low <= text <= high for text in table]  # type: ignore[operator]
    else:
        compare = COMPARISONS[type(node)]
        literal = _literal(node.expression)
        hits = [bool(compare(text, literal)) for text in table]
    lookup = np.array([*hits, False], dtype=bool)  # code -1 reads the trailing False
    known = column.codes >= 0
    return lookup[column.codes], known


def _like_regex(pattern: str) -> re.Pattern[str]:
    """LIKE as the databases here run it: case-sensitive, ``%`` and ``_`` the only wildcards."""
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)
