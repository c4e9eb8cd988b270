"""The constraint language (DESIGN §3): SQL ``WHERE`` syntax, allow-listed, compiled with binds.

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
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlglot
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from peaksql.core.errors import ConstraintError
from peaksql.server.catalog.columns import INTERVAL_COLUMNS, REGION_COLUMNS, TEXT_COLUMNS

ALLOWED_COLUMNS = REGION_COLUMNS + INTERVAL_COLUMNS

#: Longest string literal accepted (characters).
MAX_STRING_LENGTH = 1_000
#: Deepest nesting accepted, counting each open parenthesis and each NOT on the way in.
#: sqlglot's parser recurses about 16 frames per level: 32 levels stay far from Python's limit.
MAX_NESTING = 32

_INT64_MAX = 2**63 - 1
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_WHITESPACE = frozenset(" \t\r\n")
#: Token types the grammar uses, with the spellings accepted for operators.
_TOKEN_SPELLINGS: dict[TokenType, frozenset[str] | None] = {
    TokenType.VAR: None,
    TokenType.IDENTIFIER: None,
    TokenType.STRING: None,
    TokenType.NUMBER: None,
    TokenType.L_PAREN: None,
    TokenType.R_PAREN: None,
    TokenType.COMMA: None,
    TokenType.AND: frozenset({"and"}),
    TokenType.OR: frozenset({"or"}),
    TokenType.NOT: frozenset({"not"}),
    TokenType.IN: frozenset({"in"}),
    TokenType.BETWEEN: frozenset({"between"}),
    TokenType.LIKE: frozenset({"like"}),
    TokenType.IS: frozenset({"is"}),
    TokenType.NULL: frozenset({"null"}),
    TokenType.EQ: frozenset({"="}),
    TokenType.NEQ: frozenset({"!=", "<>"}),
    TokenType.LT: frozenset({"<"}),
    TokenType.LTE: frozenset({"<="}),
    TokenType.GT: frozenset({">"}),
    TokenType.GTE: frozenset({">="}),
    TokenType.DASH: frozenset({"-"}),
}
_COMPARISONS: dict[type[exp.Expression], Callable[[Any, Any], Any]] = {
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
_ORDERING = (exp.LT, exp.LTE, exp.GT, exp.GTE)


@dataclass(frozen=True)
class Where:
    """A validated constraint, split into region terms and interval terms (DESIGN §3).

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

    def region_clause(
        self, columns: Mapping[str, ColumnElement[Any]]
    ) -> ColumnElement[bool] | None:
        """The region terms as one SQLAlchemy clause over ``columns`` (None if there are none)."""
        return _compile_terms(self.region_terms, columns)

    def interval_clause(
        self, columns: Mapping[str, ColumnElement[Any]]
    ) -> ColumnElement[bool] | None:
        """The interval terms as one SQLAlchemy clause over ``columns`` (None if there are none).

        Region terms are not repeated here: the caller restricts intervals to the selected
        regions itself.
        """
        return _compile_terms(self.interval_terms, columns)


def parse_where(text: str | None, *, max_length: int = 10_000, max_in_list: int = 1_000) -> Where:
    """Parse and validate a ``where`` constraint; raise ConstraintError naming the bad token."""
    if text is None or not text.strip():
        return Where()
    if len(text) > max_length:
        raise _reject(f"the constraint is {len(text)} characters long, more than {max_length}")
    tokens = _scan(text)
    if tokens and tokens[0].token_type is TokenType.WHERE:
        tokens = tokens[1:]
    if not tokens:
        return Where()
    try:
        tree = _parse(tokens, text)
        terms = [_check_term(term, max_in_list) for term in _operands(tree, exp.And)]
        canonical = " AND ".join(_term_text(term, len(terms)) for term in terms)
    except RecursionError:
        raise _reject(f"the constraint is nested too deeply (at most {MAX_NESTING})") from None
    region: list[exp.Expression] = []
    interval: list[exp.Expression] = []
    used: set[str] = set()
    for term in terms:
        names = {column.name for column in term.find_all(exp.Column)}
        used |= names
        (region if names <= set(REGION_COLUMNS) else interval).append(term)
    return Where(tuple(region), tuple(interval), canonical, frozenset(used))


def _term_text(term: exp.Expression, num_terms: int) -> str:
    """A term's normal text, parenthesised where AND would otherwise bind into it."""
    text = term.sql()
    return f"({text})" if num_terms > 1 and isinstance(term, exp.Or) else text


def _reject(problem: str) -> ConstraintError:
    return ConstraintError(
        f"invalid constraint: {problem}. Allowed: columns {', '.join(ALLOWED_COLUMNS)}; "
        "AND, OR, NOT, ( ), = != <> < <= > >=, [NOT] IN (...), [NOT] BETWEEN, [NOT] LIKE, "
        "IS [NOT] NULL, string and number literals"
    )


def _show(text: str, limit: int = 40) -> str:
    """``text`` quoted for a message, shortened past ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --- gate 1: the raw text, token by token ---------------------------------------------------


def _scan(text: str) -> list[Token]:
    """Tokenize ``text`` and accept only the grammar's tokens, with nothing between them."""
    try:
        tokens = sqlglot.Dialect.get_or_raise(None).tokenize(text)
    except TokenError:
        raise _reject(_unreadable(text)) from None
    position = 0
    for index, token in enumerate(tokens):
        _check_gap(text, position, token.start)
        position = token.end + 1
        _check_token(tokens, index, text)
    _check_nesting(tokens)
    _check_gap(text, position, len(text))
    return tokens


def _check_nesting(tokens: list[Token]) -> None:
    """Reject nesting the parser could only follow by deep recursion (a RecursionError)."""
    levels = [0]  # nesting at each open parenthesis
    nots = 0  # NOTs just before the current token
    for token in tokens:
        kind = token.token_type
        if kind is TokenType.NOT:
            nots += 1
        elif kind is TokenType.L_PAREN:
            levels.append(levels[-1] + nots + 1)
            nots = 0
        else:
            if kind is TokenType.R_PAREN and len(levels) > 1:
                levels.pop()
            nots = 0
        if levels[-1] + nots > MAX_NESTING:
            raise _reject(
                f"the constraint is nested too deeply at {token.text!r}, position {token.start} "
                f"(at most {MAX_NESTING} levels of parentheses and NOT)"
            )


def _check_gap(text: str, begin: int, end: int) -> None:
    """Only whitespace may lie between tokens: anything else is a comment or a trick."""
    gap = text[begin:end]
    for offset, char in enumerate(gap):
        if char in _WHITESPACE:
            continue
        rest = gap[offset:].rstrip()
        if rest.startswith(("--", "/*")):
            raise _reject(f"comment {_show(rest)} at position {begin + offset} is not allowed")
        raise _reject(_character_problem(char, begin + offset))


def _character_problem(char: str, position: int) -> str:
    if char.isascii():
        return f"{char!r} at position {position} is not allowed"
    return (
        f"non-ASCII character {char!r} (U+{ord(char):04X}) at position {position} is not "
        "allowed outside string literals"
    )


def _check_token(tokens: list[Token], index: int, text: str) -> None:
    token = tokens[index]
    kind, spelling = token.token_type, token.text
    raw = text[token.start : token.end + 1]
    if kind is TokenType.STRING:
        _check_string(spelling, token.start)
        return
    for offset, char in enumerate(raw):
        if not char.isascii():
            raise _reject(_character_problem(char, token.start + offset))
    if kind is TokenType.WHERE and index == 0:
        return
    if kind is TokenType.DOT and _starts_fraction(tokens, index):
        return
    if kind is TokenType.SEMICOLON:
        raise _reject(f"';' at position {token.start} is not allowed (one constraint only)")
    if kind in (TokenType.VAR, TokenType.IDENTIFIER) or spelling.lower() in ALLOWED_COLUMNS:
        _check_column_token(tokens[index : index + 3])
        return
    allowed = _TOKEN_SPELLINGS.get(kind, frozenset())
    if allowed is not None and spelling.lower() not in allowed:
        raise _reject(f"{_show(raw)} at position {token.start} is not allowed")


def _starts_fraction(tokens: list[Token], index: int) -> bool:
    """Whether the '.' at ``index`` begins a number such as ``.5`` (tokenized as '.' + '5')."""
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    return (
        following is not None
        and following.token_type is TokenType.NUMBER
        and following.start == tokens[index].end + 1
        and following.text[:1].isdigit()
    )


def _check_string(value: str, position: int) -> None:
    if len(value) > MAX_STRING_LENGTH:
        raise _reject(
            f"the string literal {_show(value)} at position {position} is {len(value)} "
            f"characters long, more than {MAX_STRING_LENGTH}"
        )
    for char in value:
        if char == "\x00" or 0xD800 <= ord(char) <= 0xDFFF:
            raise _reject(
                f"the string literal {_show(value)} at position {position} holds the "
                f"character U+{ord(char):04X}, which no database stores"
            )


def _check_column_token(window: list[Token]) -> None:
    """Check a name token, given with up to two tokens that follow it."""
    token, following = window[0], [t.token_type for t in window[1:]]
    name = token.text
    if following[:1] == [TokenType.L_PAREN]:
        raise _reject(f"function {name.lower()!r} is not allowed")
    if following[:1] == [TokenType.DOT]:
        qualified = ".".join(t.text for t in window[::2])
        raise _reject(f"table-qualified column {_show(qualified)} is not allowed")
    if token.token_type is TokenType.VAR and not _IDENTIFIER.match(name):
        what = "placeholder" if name.startswith(("$", "?", ":", "@")) else "token"
        raise _reject(f"{what} {_show(name)} at position {token.start} is not allowed")
    if name.lower() not in ALLOWED_COLUMNS:
        raise _reject(f"unknown column {_show(name)} at position {token.start}")


def _unreadable(text: str) -> str:
    """Say where the tokenizer gave up: an unterminated quote or comment."""
    index = 0
    while index < len(text):
        char = text[index]
        if char in "'\"":
            close = text.find(char, index + 1)
            while close != -1 and text[close + 1 : close + 2] == char:
                close = text.find(char, close + 2)
            if close == -1:
                what = "string literal" if char == "'" else "quoted column name"
                return f"unterminated {what} starting at position {index}"
            index = close + 1
            continue
        if text.startswith("/*", index):
            return f"comment '/*' at position {index} is not allowed"
        index += 1
    return f"cannot tokenize {_show(text)}"


# --- gate 2: the syntax tree ----------------------------------------------------------------


def _parse(tokens: list[Token], text: str) -> exp.Expression:
    try:
        (tree,) = (
            sqlglot.Dialect.get_or_raise(None).parser().parse_into(exp.Condition, tokens, text)
        )
    except ParseError as error:
        detail = error.errors[0] if error.errors else {}
        near = detail.get("highlight") or ""
        description = detail.get("description", str(error))
        raise _reject(
            f"cannot parse near {_show(near)} (line {detail.get('line')}, column "
            f"{detail.get('col')}): {description}"
        ) from None
    if tree is None:
        raise _reject("the constraint is empty")
    return tree


def _operands(node: exp.Expression, kind: type[exp.Expression]) -> Iterator[exp.Expression]:
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


def _check_term(node: exp.Expression, max_in_list: int) -> exp.Expression:
    """Validate one predicate and return it normalised; reject anything off the grammar."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And | exp.Or):
        kind = type(node)
        parts = [_check_term(part, max_in_list) for part in _operands(node, kind)]
        combine = exp.and_ if kind is exp.And else exp.or_
        return combine(*parts, copy=False)
    if isinstance(node, exp.Not):
        _only(node, "this")
        return exp.not_(_check_term(node.this, max_in_list), copy=False)
    if type(node) in _COMPARISONS:
        return _check_comparison(node)
    if isinstance(node, exp.In):
        return _check_in(node, max_in_list)
    if isinstance(node, exp.Between):
        _only(node, "this", "low", "high")
        column = _column(node.this, node)
        low, high = _literal(column, node.args["low"]), _literal(column, node.args["high"])
        return exp.Between(this=exp.column(column), low=low, high=high)
    if isinstance(node, exp.Like):
        return _check_like(node)
    if isinstance(node, exp.Is):
        _only(node, "this", "expression")
        column = _column(node.this, node)
        if not isinstance(node.expression, exp.Null):
            raise _reject(f"{_show(node.sql())}: IS takes only NULL or NOT NULL")
        return exp.Is(this=exp.column(column), expression=exp.Null())
    raise _reject(f"{_describe(node)} is not a condition: a term must compare a column")


def _only(node: exp.Expression, *keys: str) -> None:
    """Reject a node carrying options outside ``keys`` (e.g. LIKE ... ESCAPE, SYMMETRIC)."""
    extra = [
        key
        for key, value in node.args.items()
        if value not in (None, False, []) and key not in keys
    ]
    if extra:
        raise _reject(f"{_show(node.sql())} uses {', '.join(extra)}, which is not allowed")


def _check_comparison(node: exp.Expression) -> exp.Expression:
    _only(node, "this", "expression")
    left, right, kind = node.this, node.expression, type(node)
    if not isinstance(left, exp.Column):
        if not isinstance(right, exp.Column):
            raise _reject(
                f"{_show(node.sql())} compares no column: a term must compare a column "
                "with a literal"
            )
        left, right, kind = right, left, _MIRRORED[kind]
    column = _column(left, node)
    return kind(this=exp.column(column), expression=_literal(column, right))


def _check_in(node: exp.In, max_in_list: int) -> exp.Expression:
    if node.args.get("query") is not None:
        raise _reject(f"subquery {_show(node.args['query'].sql())} is not allowed")
    _only(node, "this", "expressions")
    column = _column(node.this, node)
    items = node.expressions
    if not items:
        raise _reject(f"{_show(node.sql())} has an empty IN list")
    if len(items) > max_in_list:
        raise _reject(
            f"the IN list of column {column!r} has {len(items)} items, more than {max_in_list}"
        )
    return exp.In(this=exp.column(column), expressions=[_literal(column, v) for v in items])


def _check_like(node: exp.Like) -> exp.Expression:
    _only(node, "this", "expression", "negate")
    column = _column(node.this, node)
    if column not in TEXT_COLUMNS:
        raise _reject(f"LIKE on numeric column {column!r} is not allowed")
    pattern = _literal(column, node.expression)
    like = exp.Like(this=exp.column(column), expression=pattern)
    return exp.not_(like, copy=False) if node.args.get("negate") else like


def _column(node: exp.Expression, term: exp.Expression) -> str:
    """The lowercase name of an allowed column, or a rejection naming what stands there."""
    if not isinstance(node, exp.Column):
        raise _reject(
            f"{_describe(node)} in {_show(term.sql())}: a term must compare a column with a literal"
        )
    if node.args.get("table") is not None or not isinstance(node.this, exp.Identifier):
        raise _reject(f"table-qualified column {_show(node.sql())} is not allowed")
    name = node.name.lower()
    if name not in ALLOWED_COLUMNS:
        raise _reject(f"unknown column {_show(node.name)}")
    return name


def _literal(column: str, node: exp.Expression) -> exp.Literal:
    """A literal of ``column``'s type, normalised (``-5`` becomes one literal)."""
    negative = False
    if isinstance(node, exp.Neg):
        negative, node = True, node.this
        if not (isinstance(node, exp.Literal) and not node.is_string):
            raise _reject(f"unary minus is allowed on a number only, not on {_describe(node)}")
    if isinstance(node, exp.Null):
        raise _reject(f"NULL compared with column {column!r}: use IS NULL or IS NOT NULL")
    if isinstance(node, exp.Column):
        raise _reject(
            f"comparing column {column!r} with column {node.name.lower()!r} is not allowed: "
            "compare a column with a literal"
        )
    if not isinstance(node, exp.Literal):
        raise _reject(f"{_describe(node)} is not allowed as a value of column {column!r}")
    if node.is_string:
        if column not in TEXT_COLUMNS:
            raise _reject(f"column {column!r} is numeric but {_show(node.this)} is a string")
        return exp.Literal.string(node.this)
    number = _number(node.this)
    if column in TEXT_COLUMNS:
        raise _reject(f"column {column!r} holds text but {node.this} is a number: quote it")
    return exp.Literal(this=repr(-number if negative else number), is_string=False)


def _number(text: str) -> int | float:
    try:
        number: int | float = int(text) if text.isdigit() else float(text)
    except ValueError:
        raise _reject(f"{_show(text)} is not a number") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise _reject(f"the number {_show(text)} is out of range")
    if isinstance(number, int) and number > _INT64_MAX:
        raise _reject(f"the number {_show(text)} is out of range (64-bit integers only)")
    return number


def _describe(node: exp.Expression) -> str:
    """Name a rejected node the way a user would."""
    if isinstance(node, exp.Func):
        return f"function {node.sql_name().lower()!r}"
    if isinstance(node, exp.Subquery | exp.Query):
        return f"subquery {_show(node.sql())}"
    if isinstance(node, exp.Placeholder | exp.Parameter):
        return f"placeholder {_show(node.sql())}"
    if isinstance(node, exp.Binary):
        return f"expression {_show(node.sql())}"
    if isinstance(node, exp.Literal):
        return f"literal {_show(node.sql())}"
    return _show(node.sql())


# --- compilation to SQLAlchemy --------------------------------------------------------------


def _compile_terms(
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
        return combine(*(_compile(part, columns) for part in _operands(node, type(node))))
    if isinstance(node, exp.Not):
        return sa.not_(_compile(node.this, columns))
    name = node.this.name
    if name not in columns:
        raise _reject(f"column {name!r} is not available here")
    column = columns[name]
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
    return _COMPARISONS[type(node)](column, _bind(node.expression))


def _value(literal: exp.Literal) -> str | int | float:
    if literal.is_string:
        return literal.this
    text = literal.this
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _bind(literal: exp.Literal) -> sa.BindParameter[Any]:
    """A bound parameter with an explicit type (a float stays a float next to an int column)."""
    value = _value(literal)
    kind = sa.String() if isinstance(value, str) else sa.BigInteger()
    if isinstance(value, float):
        kind = sa.Float()
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
