"""Constraint errors speak the constraint language (never the parser's class names), and lists
and numbers parse as SQL would."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peaksql.core.errors import ConstraintError
from peaksql.server.engine.constraints import parse_where

#: (constraint, words its error must contain)
BAD = [
    ("chromosome IN ('a',)", "an empty item in a list at position 18"),
    ("start NOT IN (1,,,,2)", "an empty item in a list at position 15"),
    ("start IN (,1)", "an empty item in a list at position 10"),
    ("start > 1 OR", "OR needs a term after it"),
    ("start = 1 AND OR end = 2", "AND needs a term after it"),
    ("NOT", "NOT needs a term after it"),
    ("(start > 1) OR (end <", "< needs a value on each side"),
    ("start = = 1", "= needs a value on each side"),
    ("start BETWEEN 1", "BETWEEN needs 'low AND high'"),
    ("start > 1 end < 2", "two terms need AND or OR between them"),
    ("start > -9223372036854775809", "out of range (64-bit integers only)"),
    ("start > 9223372036854775808", "out of range (64-bit integers only)"),
]


@pytest.mark.parametrize(("text", "words"), BAD)
def test_errors_name_the_problem_in_constraint_words(text: str, words: str) -> None:
    with pytest.raises(ConstraintError) as error:
        parse_where(text)
    assert words in str(error.value)
    assert "<class" not in str(error.value) and "sqlglot" not in str(error.value)


def test_the_smallest_64_bit_integer_is_a_number_like_any_other() -> None:
    where = parse_where("start > -9223372036854775808 AND end < 9223372036854775807")
    assert "-9223372036854775808" in where.canonical


_PIECES = st.sampled_from(
    ["start", "chromosome", "'a'", "1", "-", "(", ")", ",", "=", "<", "AND", "OR", "NOT",
     "IN", "BETWEEN", "LIKE", "IS", "NULL", "."]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=8))
def test_no_message_shows_the_parsers_internals(pieces: list[str]) -> None:
    try:
        parse_where(" ".join(pieces))
    except ConstraintError as error:
        assert "<class" not in str(error) and "sqlglot" not in str(error), str(error)
