"""Gate 2 of the constraint language: the syntax tree, allow-listed and normalised
(see ``constraints``): only the grammar is accepted, rebuilt with lowercase columns, the
column on the left and literals as Python values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.tokens import Token

from peaksql.server.catalog.columns import TEXT_COLUMNS
from peaksql.server.engine.constraint_tokens import (
    is_allowed_column,
    is_metadata_column,
    reject,
    show,
)

_INT64_MAX = 2**63 - 1
_PLAIN = re.compile(r"[a-z_][a-z0-9_]*\Z")
COMPARISONS: dict[type[exp.Expression], Callable[[Any, Any], Any]] = {
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
}
#: The comparison that reads the same with its sides swapped (``5 < x`` is ``x > 5``).
_MIRRORED: dict[type[exp.Expression], type[exp.Expression]] = {
    exp.EQ: exp.EQ,
    exp.NEQ: exp.NEQ,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
}


def parse_tokens(tokens: list[Token], text: str) -> exp.Expression:
    try:
        (tree,) = (
            sqlglot.Dialect.get_or_raise(None).parser().parse_into(exp.Condition, tokens, text)
        )
    except ParseError as error:
        detail = error.errors[0] if error.errors else {}
        near = detail.get("highlight") or ""
        raise reject(
            f"cannot parse near {show(near)} (line {detail.get('line')}, column "
            f"{detail.get('col')}): {_parse_problem(detail.get('description', ''))}"
        ) from None
    if tree is None:
        raise reject("the constraint is empty")
    # sqlglot >= 30 types parse results as its base ``Expr``; every node class is an Expression
    assert isinstance(tree, exp.Expression)
    return tree


#: sqlglot's node classes in the words of the constraint language.
_NODE_WORDS: dict[str, str] = {
    "And": "AND",
    "Or": "OR",
    "Not": "NOT",
    "EQ": "=",
    "NEQ": "!=",
    "LT": "<",
    "LTE": "<=",
    "GT": ">",
    "GTE": ">=",
    "Between": "BETWEEN",
    "In": "IN",
    "Like": "LIKE",
    "Is": "IS",
    "Neg": "unary minus",
    "Paren": "parentheses",
}
_MISSING = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*?(\w+)'>")


def _parse_problem(description: str) -> str:
    """The parser's complaint in the constraint language, never its class names."""
    missing = _MISSING.search(description)
    if missing:
        part, node = missing.groups()
        word = _NODE_WORDS.get(node, node.lower())
        if node == "Between":
            return "BETWEEN needs 'low AND high'"
        side = "a term after it" if node in ("And", "Or", "Not") else "a value on each side"
        return f"{word} needs {side}" if part in ("this", "expression") else f"{word} is incomplete"
    if "Unexpected token" in description or "Invalid expression" in description:
        return "unexpected here: two terms need AND or OR between them"
    return re.sub(r"<class '[\w.]*?(\w+)'>", lambda m: _NODE_WORDS.get(m[1], m[1]), description)


def operands(node: exp.Expression, kind: type[exp.Expression]) -> Iterator[exp.Expression]:
    """The operands of a chain of ``kind`` (And/Or) in order, parentheses looked through.

    Iterative, so long chains (``a=1 OR a=2 OR ...``) cannot exhaust the stack.
    """
    stack = [node]
    while stack:
        current = stack.pop()
        while isinstance(current, exp.Paren):
            current = current.this
        if isinstance(current, kind):
            stack.append(current.expression)
            stack.append(current.this)
        else:
            yield current


def check_term(node: exp.Expression, max_in_list: int) -> exp.Expression:
    """Validate one predicate and return it normalised; reject anything off the grammar."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And | exp.Or):
        kind = type(node)
        parts = [check_term(part, max_in_list) for part in operands(node, kind)]
        combine = exp.and_ if kind is exp.And else exp.or_
        combined = combine(*parts, copy=False)
        assert isinstance(combined, exp.Expression)  # an And / Or, typed as a Condition
        return combined
    if isinstance(node, exp.Not):
        _only(node, "this")
        return exp.not_(check_term(node.this, max_in_list), copy=False)
    if type(node) in COMPARISONS:
        return _check_comparison(node)
    if isinstance(node, exp.In):
        return _check_in(node, max_in_list)
    if isinstance(node, exp.Between):
        _only(node, "this", "low", "high")
        column = _column(node.this, node)
        low, high = _literal(column, node.args["low"]), _literal(column, node.args["high"])
        if low.is_string != high.is_string:
            raise reject(f"{show(node.sql())}: BETWEEN needs two strings or two numbers")
        return exp.Between(this=_column_node(column), low=low, high=high)
    if isinstance(node, exp.Like):
        return _check_like(node)
    if isinstance(node, exp.Is):
        _only(node, "this", "expression")
        column = _column(node.this, node)
        if not isinstance(node.expression, exp.Null):
            raise reject(f"{show(node.sql())}: IS takes only NULL or NOT NULL")
        return exp.Is(this=_column_node(column), expression=exp.Null())
    raise reject(f"{_describe(node)} is not a condition: a term must compare a column")


def _only(node: exp.Expression, *keys: str) -> None:
    """Reject a node carrying options outside ``keys`` (e.g. LIKE ... ESCAPE, SYMMETRIC)."""
    extra = [
        key
        for key, value in node.args.items()
        if value not in (None, False, []) and key not in keys
    ]
    if extra:
        raise reject(f"{show(node.sql())} uses {', '.join(extra)}, which is not allowed")


def _check_comparison(node: exp.Expression) -> exp.Expression:
    _only(node, "this", "expression")
    left, right, kind = node.this, node.expression, type(node)
    if not isinstance(left, exp.Column):
        if not isinstance(right, exp.Column):
            raise reject(
                f"{show(node.sql())} compares no column: a term must compare a column "
                "with a literal"
            )
        left, right, kind = right, left, _MIRRORED[kind]
    column = _column(left, node)
    return kind(this=_column_node(column), expression=_literal(column, right))


def _check_in(node: exp.In, max_in_list: int) -> exp.Expression:
    if node.args.get("query") is not None:
        raise reject(f"subquery {show(node.args['query'].sql())} is not allowed")
    _only(node, "this", "expressions")
    column = _column(node.this, node)
    items = node.expressions
    if not items:
        raise reject(f"{show(node.sql())} has an empty IN list")
    if len(items) > max_in_list:
        raise reject(
            f"the IN list of column {column!r} has {len(items)} items, more than {max_in_list}"
        )
    return exp.In(this=_column_node(column), expressions=[_literal(column, v) for v in items])


def _check_like(node: exp.Like) -> exp.Expression:
    _only(node, "this", "expression", "negate")
    column = _column(node.this, node)
    if column not in TEXT_COLUMNS and not is_metadata_column(column):
        raise reject(f"LIKE on numeric column {column!r} is not allowed")
    pattern = _literal(column, node.expression)
    if not pattern.is_string:
        raise reject(f"{show(node.sql())}: LIKE takes a string pattern")
    like = exp.Like(this=_column_node(column), expression=pattern)
    return exp.not_(like, copy=False) if node.args.get("negate") else like


def _column_node(name: str) -> exp.Column:
    """A column node; a name that is no plain identifier (a metadata key such as
    ``cell type``) is quoted, so the canonical text parses back to it."""
    return exp.column(name, quoted=not _PLAIN.match(name))


def _column(node: exp.Expression, term: exp.Expression) -> str:
    """The lowercase name of an allowed column, or a rejection naming what stands there."""
    if not isinstance(node, exp.Column):
        raise reject(
            f"{_describe(node)} in {show(term.sql())}: a term must compare a column with a literal"
        )
    if node.args.get("table") is not None or not isinstance(node.this, exp.Identifier):
        raise reject(f"table-qualified column {show(node.sql())} is not allowed")
    name = node.name.lower()
    if not is_allowed_column(name):
        raise reject(f"unknown column {show(node.name)}")
    return name


def _literal(column: str, node: exp.Expression) -> exp.Literal:
    """A literal of ``column``'s type, normalised (``-5`` becomes one literal)."""
    negative = False
    if isinstance(node, exp.Neg):
        negative, node = True, node.this
        if not (isinstance(node, exp.Literal) and not node.is_string):
            raise reject(f"unary minus is allowed on a number only, not on {_describe(node)}")
    if isinstance(node, exp.Null):
        raise reject(f"NULL compared with column {column!r}: use IS NULL or IS NOT NULL")
    if isinstance(node, exp.Column):
        raise reject(
            f"comparing column {column!r} with column {node.name.lower()!r} is not allowed: "
            "compare a column with a literal"
        )
    if not isinstance(node, exp.Literal):
        raise reject(f"{_describe(node)} is not allowed as a value of column {column!r}")
    if is_metadata_column(column):  # a metadata value is text or a number: either literal
        if node.is_string:
            return exp.Literal.string(node.this)
        number = _number(node.this, negative)
        return exp.Literal(this=repr(-number if negative else number), is_string=False)
    if node.is_string:
        if column not in TEXT_COLUMNS:
            raise reject(f"column {column!r} is numeric but {show(node.this)} is a string")
        return exp.Literal.string(node.this)
    number = _number(node.this, negative)
    if column in TEXT_COLUMNS:
        raise reject(f"column {column!r} holds text but {node.this} is a number: quote it")
    return exp.Literal(this=repr(-number if negative else number), is_string=False)


def _number(text: str, negative: bool = False) -> int | float:
    """The number ``text`` (negated later when ``negative``): int64 from -2**63 to 2**63 - 1."""
    try:
        number: int | float = int(text) if text.isdigit() else float(text)
    except ValueError:
        raise reject(f"{show(text)} is not a number") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise reject(f"the number {show(text)} is out of range")
    if isinstance(number, int) and number > _INT64_MAX + negative:
        raise reject(f"the number {show(text)} is out of range (64-bit integers only)")
    return number


def _describe(node: exp.Expression) -> str:
    """Name a rejected node the way a user would."""
    if isinstance(node, exp.Func):
        return f"function {node.sql_name().lower()!r}"
    if isinstance(node, exp.Subquery | exp.Query):
        return f"subquery {show(node.sql())}"
    if isinstance(node, exp.Placeholder | exp.Parameter):
        return f"placeholder {show(node.sql())}"
    if isinstance(node, exp.Binary):
        return f"expression {show(node.sql())}"
    if isinstance(node, exp.Literal):
        return f"literal {show(node.sql())}"
    return show(node.sql())
