"""The constraint language: SQL ``WHERE`` syntax, allow-listed, compiled with binds.

text -> tokens (allow-list scan) -> sqlglot tree (allow-list walk) -> Where -> SQLAlchemy clause

Two gates, both before any SQL exists. The token scan sees the raw text, so it catches what
a parser forgets (comments, ``;``, unicode look-alikes outside string literals, placeholders)
and names the offending token. The tree walk accepts only the grammar below and rebuilds a
normalised tree from it (lowercase columns, column on the left, literals as Python values).

    term   := term AND term | term OR term | NOT term | ( term )
            | column op literal | literal op column          op: = != <> < <= > >=
            | column [NOT] IN (literal, ...) | column [NOT] BETWEEN literal AND literal
            | column [NOT] LIKE 'pattern' | column IS [NOT] NULL
    literal:= 'string' | number | -number

Literals reach the database only as bound parameters. Two constructs need care to give the
same rows on SQLite and PostgreSQL, and both are compiled per dialect here, so callers need
no connection settings (no ``PRAGMA case_sensitive_like``):

- ``LIKE`` is case-sensitive everywhere, with ``%`` and ``_`` as the only wildcards and no
  escape character: PostgreSQL gets ``LIKE ... ESCAPE '!'`` (``!`` doubled in the pattern,
  which also keeps ``\\`` literal), SQLite gets the equivalent ``GLOB`` pattern (SQLite's
  LIKE ignores ASCII case).
- ``< <= > >= BETWEEN`` on text compare by code point: PostgreSQL gets ``COLLATE "C"``
  (a database's default collation may sort by locale), SQLite's default BINARY already does.
  Equality needs nothing: PostgreSQL's deterministic collations compare bytes.

``!=``, ``NOT IN`` and ``NOT`` follow SQL three-valued logic (NULL is never selected by a
comparison), identically on both backends.

Condition metadata keys (the JSON object given at ingest) are columns too when the caller
passes the catalog's keys (``metadata_keys``): ``tissue = 'liver'`` compares the key's text
value, ``dose > 5`` its number value (``constraint_sql.MetadataColumn``). Like ``condition``
they have one value per condition: a top-level term naming only such columns is a
*condition term* (``Where.condition_terms``), which selects conditions, not intervals.

The gates and the compiler live in ``constraint_tokens``, ``constraint_tree`` and
``constraint_sql``; this module is the API: ``parse_where`` and ``Where``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.sql.elements import ColumnElement
from sqlglot import exp
from sqlglot.tokens import TokenType

from peaksql.server.catalog.columns import (
    BY_NAME,
    CONDITION_COLUMNS,
    INTERVAL_COLUMNS,
    REGION_COLUMNS,
    TEXT_COLUMNS,
)
from peaksql.server.engine.constraint_sql import compile_terms
from peaksql.server.engine.constraint_tokens import (
    ALLOWED_COLUMNS,
    MAX_NESTING,
    MAX_STRING_LENGTH,
    metadata_columns,
    reject,
    scan,
)
from peaksql.server.engine.constraint_tree import check_term, operands, parse_tokens

__all__ = [
    "ALLOWED_COLUMNS",
    "INTERVAL_COLUMNS",
    "MAX_NESTING",
    "MAX_STRING_LENGTH",
    "REGION_COLUMNS",
    "TEXT_COLUMNS",
    "Where",
    "parse_where",
]


@dataclass(frozen=True)
class Where:
    """A validated constraint, split into region terms and interval terms.

    ``region_terms`` are the top-level AND terms naming only chromosome-level columns; they
    restrict the windowed regions. ``interval_terms`` are all other terms; they restrict the
    intervals that make labels. Both hold normalised sqlglot expressions in input order.
    ``canonical`` is the normal text of the whole constraint ("" when empty), a cache key.

    The clause methods take the caller's mapping from lowercase column name to a SQLAlchemy
    expression over its join (e.g. ``"length": intervals.c.end - intervals.c.start``).
    """

    region_terms: tuple[exp.Expression, ...] = ()
    interval_terms: tuple[exp.Expression, ...] = ()
    canonical: str = ""
    columns: frozenset[str] = frozenset()

    @property
    def metadata_columns(self) -> frozenset[str]:
        """The condition metadata keys the constraint names."""
        return frozenset(name for name in self.columns if name not in BY_NAME)

    @property
    def condition_terms(self) -> tuple[exp.Expression, ...]:
        """The interval terms naming only per-condition columns (``condition``, metadata
        keys): they select conditions, evaluated once per condition."""
        return tuple(t for t in self.interval_terms if _per_condition(t))

    @property
    def label_terms(self) -> tuple[exp.Expression, ...]:
        """The interval terms that are no condition terms: they select intervals."""
        return tuple(t for t in self.interval_terms if not _per_condition(t))

    def condition_names(self) -> list[str]:
        """Condition names the constraint compares ``condition`` with (=, !=, IN, NOT IN),
        anywhere in it, in order of appearance: each must name a condition."""
        names: list[str] = []
        for term in (*self.region_terms, *self.interval_terms):
            for node in term.find_all(exp.EQ, exp.NEQ, exp.In):
                if node.this.name == "condition":
                    items = node.expressions if isinstance(node, exp.In) else [node.expression]
                    names.extend(item.this for item in items if item.this not in names)
        return names

    def condition_clause(
        self, columns: Mapping[str, ColumnElement[Any]]
    ) -> ColumnElement[bool] | None:
        """The condition terms as one clause over ``columns`` (None if there are none)."""
        return compile_terms(self.condition_terms, columns)

    def label_clause(self, columns: Mapping[str, ColumnElement[Any]]) -> ColumnElement[bool] | None:
        """The label terms as one clause over ``columns`` (None if there are none)."""
        return compile_terms(self.label_terms, columns)

    def region_clause(
        self, columns: Mapping[str, ColumnElement[Any]]
    ) -> ColumnElement[bool] | None:
        """The region terms as one SQLAlchemy clause over ``columns`` (None if there are none)."""
        return compile_terms(self.region_terms, columns)

    def interval_clause(
        self, columns: Mapping[str, ColumnElement[Any]]
    ) -> ColumnElement[bool] | None:
        """The interval terms as one SQLAlchemy clause over ``columns`` (None if there are none).

        Region terms are not repeated here: the caller restricts intervals to the selected
        regions itself.
        """
        return compile_terms(self.interval_terms, columns)


def parse_where(
    text: str | None,
    *,
    max_length: int = 10_000,
    max_in_list: int = 1_000,
    metadata_keys: frozenset[str] = frozenset(),
) -> Where:
    """Parse and validate a ``where`` constraint; raise ConstraintError naming the bad token.

    ``metadata_keys``: the catalog's condition metadata keys (lowercase), allowed as columns
    (``catalog.condition_metadata.metadata_keys``); without them only built-in columns are.
    """
    with metadata_columns(metadata_keys):
        return _parse(text, max_length, max_in_list)


def _parse(text: str | None, max_length: int, max_in_list: int) -> Where:
    if text is None or not text.strip():
        return Where()
    if len(text) > max_length:
        raise reject(f"the constraint is {len(text)} characters long, more than {max_length}")
    tokens = scan(text)
    if tokens and tokens[0].token_type is TokenType.WHERE:
        tokens = tokens[1:]
    if not tokens:
        return Where()
    try:
        tree = parse_tokens(tokens, text)
        terms = [check_term(term, max_in_list) for term in operands(tree, exp.And)]
        canonical = " AND ".join(_term_text(term, len(terms)) for term in terms)
    except RecursionError:
        raise reject(f"the constraint is nested too deeply (at most {MAX_NESTING})") from None
    region: list[exp.Expression] = []
    interval: list[exp.Expression] = []
    used: set[str] = set()
    for term in terms:
        names = {column.name for column in term.find_all(exp.Column)}
        used |= names
        (region if names <= set(REGION_COLUMNS) else interval).append(term)
    return Where(tuple(region), tuple(interval), canonical, frozenset(used))


def _per_condition(term: exp.Expression) -> bool:
    names = {column.name for column in term.find_all(exp.Column)}
    return all(name in CONDITION_COLUMNS or name not in BY_NAME for name in names)


def _term_text(term: exp.Expression, num_terms: int) -> str:
    """A term's normal text, parenthesised where AND would otherwise bind into it."""
    text = term.sql()
    return f"({text})" if num_terms > 1 and isinstance(term, exp.Or) else text
