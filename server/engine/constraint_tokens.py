"""Gate 1 of the constraint language: the raw text, token by token (see ``constraints``).

The scan sees the text before any parser does, so it catches what a parser forgets
(comments, ``;``, unicode look-alikes outside string literals, placeholders) and names the
offending token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import sqlglot
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from peaksql.core.errors import ConstraintError
from peaksql.server.catalog.columns import INTERVAL_COLUMNS, REGION_COLUMNS

ALLOWED_COLUMNS = REGION_COLUMNS + INTERVAL_COLUMNS

#: Metadata keys the catalog holds, allowed as condition-level columns during one parse
#: (``parse_where(..., metadata_keys=...)`` sets it; both gates read it).
_METADATA_KEYS: ContextVar[frozenset[str]] = ContextVar("metadata_keys", default=frozenset())


@contextmanager
def metadata_columns(keys: frozenset[str]) -> Iterator[None]:
    """Allow ``keys`` (lowercase metadata keys) as columns for the parse inside the block."""
    token = _METADATA_KEYS.set(frozenset(keys) - frozenset(ALLOWED_COLUMNS))
    try:
        yield
    finally:
        _METADATA_KEYS.reset(token)


def is_metadata_column(name: str) -> bool:
    """Whether ``name`` is a metadata key allowed in the current parse."""
    return name in _METADATA_KEYS.get()


def is_allowed_column(name: str) -> bool:
    """Whether ``name`` (lowercase) is a built-in column or an allowed metadata key."""
    return name in ALLOWED_COLUMNS or is_metadata_column(name)


#: Longest string literal accepted (characters).
MAX_STRING_LENGTH = 1_000
#: Deepest nesting accepted, counting each open parenthesis and each NOT on the way in.
#: sqlglot's parser recurses about 16 frames per level: 32 levels stay far from Python's limit.
MAX_NESTING = 32

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


def reject(problem: str) -> ConstraintError:
    return ConstraintError(
        f"invalid constraint: {problem}. Allowed: columns {', '.join(ALLOWED_COLUMNS)}; "
        "AND, OR, NOT, ( ), = != <> < <= > >=, [NOT] IN (...), [NOT] BETWEEN, [NOT] LIKE, "
        "IS [NOT] NULL, string and number literals"
    )


def show(text: str, limit: int = 40) -> str:
    """``text`` quoted for a message, shortened past ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def scan(text: str) -> list[Token]:
    """Tokenize ``text`` and accept only the grammar's tokens, with nothing between them."""
    try:
        tokens = sqlglot.Dialect.get_or_raise(None).tokenize(text)
    except TokenError:
        raise reject(_unreadable(text)) from None
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
            raise reject(
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
            raise reject(f"comment {show(rest)} at position {begin + offset} is not allowed")
        raise reject(_character_problem(char, begin + offset))


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
            raise reject(_character_problem(char, token.start + offset))
    if kind is TokenType.WHERE and index == 0:
        return
    if kind is TokenType.DOT and _starts_fraction(tokens, index):
        return
    if kind is TokenType.SEMICOLON:
        raise reject(f"';' at position {token.start} is not allowed (one constraint only)")
    if kind is TokenType.COMMA:
        _check_list_item(tokens, index)
    if kind in (TokenType.VAR, TokenType.IDENTIFIER) or is_allowed_column(spelling.lower()):
        _check_column_token(tokens[index : index + 3])
        return
    allowed = _TOKEN_SPELLINGS.get(kind, frozenset())
    if allowed is not None and spelling.lower() not in allowed:
        raise reject(f"{show(raw)} at position {token.start} is not allowed")


def _check_list_item(tokens: list[Token], index: int) -> None:
    """A comma separates two items: ``IN ('a',)`` and ``IN (1,,2)`` are refused, as in SQL."""
    before = tokens[index - 1].token_type if index > 0 else None
    after = tokens[index + 1].token_type if index + 1 < len(tokens) else None
    if before in (TokenType.COMMA, TokenType.L_PAREN, None) or after in (
        TokenType.COMMA,
        TokenType.R_PAREN,
        None,
    ):
        raise reject(f"an empty item in a list at position {tokens[index].start}")


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
        raise reject(
            f"the string literal {show(value)} at position {position} is {len(value)} "
            f"characters long, more than {MAX_STRING_LENGTH}"
        )
    for char in value:
        if char == "\x00" or 0xD800 <= ord(char) <= 0xDFFF:
            raise reject(
                f"the string literal {show(value)} at position {position} holds the "
                f"character U+{ord(char):04X}, which no database stores"
            )


def _check_column_token(window: list[Token]) -> None:
    """Check a name token, given with up to two tokens that follow it."""
    token, following = window[0], [t.token_type for t in window[1:]]
    name = token.text
    if following[:1] == [TokenType.L_PAREN]:
        raise reject(f"function {name.lower()!r} is not allowed")
    if following[:1] == [TokenType.DOT]:
        qualified = ".".join(t.text for t in window[::2])
        raise reject(f"table-qualified column {show(qualified)} is not allowed")
    if token.token_type is TokenType.VAR and not _IDENTIFIER.match(name):
        what = "placeholder" if name.startswith(("$", "?", ":", "@")) else "token"
        raise reject(f"{what} {show(name)} at position {token.start} is not allowed")
    if not is_allowed_column(name.lower()):
        raise reject(f"unknown column {show(name)} at position {token.start}{_keys_hint()}")


def _keys_hint() -> str:
    """The metadata keys a constraint may also name, for an unknown column's message."""
    keys = sorted(_METADATA_KEYS.get())
    if not keys:
        return ""
    shown = ", ".join(keys[:20]) + (f", ... ({len(keys)} in all)" if len(keys) > 20 else "")
    return f" (condition metadata keys of this catalog: {shown})"


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
    return f"cannot tokenize {show(text)}"
