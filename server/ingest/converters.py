"""Column converters: the texts of one file column -> a numpy array or a list of values.

The converter of a field follows its kind in the column table (``catalog.columns``):
``integer`` -> int64, ``float`` -> float64 with ``.`` as missing (NaN), ``text`` -> str with
``.`` as missing (None) and the column's ``max_length``; a few fields have their own rules:

* ``chromosome`` is required text, taken as is.
* ``strand`` is one of ``+``, ``-``, ``.``.
* ``p_value`` and ``q_value`` of ``-1`` also mean missing, as the narrowPeak and broadPeak
  specifications define -1 as "not assigned"; a narrowPeak peak (``summit``) of ``-1``
  likewise (kept as :data:`NO_SUMMIT`, checked with the coordinates).
* ``value`` (bedGraph) is required: ``.`` is refused.

A literal nan or inf is refused everywhere. Messages echo at most ``ECHO_CHARS`` characters
of a value (``text_blocks.clip``). Conversion is vectorised; a bad value is located
(row, problem) only after the vectorised conversion fails, and raised as :class:`BadValue`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from peaksql.server.catalog.columns import BY_NAME, Kind
from peaksql.server.ingest.text_blocks import clip

#: ``IntervalChunk.summit`` value for "no summit" (narrowPeak peak ``-1``).
NO_SUMMIT = -1
#: Longest name the ``intervals.name`` column holds.
MAX_NAME_LENGTH = BY_NAME["name"].max_length

_STRANDS = frozenset(("+", "-", "."))
_MISSING = "."

#: (texts of one column, its name in the file) -> converted column.
Converter = Callable[[Sequence[str], str], object]


class BadValue(Exception):
    """Row ``row`` (0-based, within the texts) of a column holds a bad value."""

    def __init__(self, row: int, problem: str) -> None:
        super().__init__(problem)
        self.row = row
        self.problem = problem


def _first_failing(texts: Sequence[str], convert: Callable[[str], object]) -> int:
    for row, text in enumerate(texts):
        try:
            convert(text)
        except (ValueError, OverflowError):
            return row
    return 0


def _integers(texts: Sequence[str], column: str) -> np.ndarray:
    try:
        return np.array(texts, dtype=np.int64)
    except (ValueError, OverflowError):
        row = _first_failing(texts, lambda text: np.int64(int(text)))
        raise BadValue(row, f"{column} {clip(texts[row])!r} is not an integer") from None


def _floats(texts: Sequence[str], column: str, *, optional: bool) -> np.ndarray:
    """Finite floats; ``.`` -> NaN when ``optional`` (a literal nan or inf is refused)."""
    missing = None
    if optional and _MISSING in texts:
        missing = np.array([text == _MISSING for text in texts])
        texts = ["nan" if text == _MISSING else text for text in texts]
    try:
        values = np.array(texts, dtype=np.float64)
    except ValueError:
        row = _first_failing(texts, float)
        raise BadValue(row, f"{column} {clip(texts[row])!r} is not a number") from None
    bad = ~np.isfinite(values)
    if missing is not None:
        bad &= ~missing
    if bad.any():
        row = int(np.argmax(bad))
        raise BadValue(row, f"{column} {clip(texts[row])!r} is not a finite number")
    return values


def _optional_floats(texts: Sequence[str], column: str) -> np.ndarray:
    return _floats(texts, column, optional=True)


def _significance(texts: Sequence[str], column: str) -> np.ndarray:
    values = _floats(texts, column, optional=True)
    values[values == -1] = np.nan
    return values


def _required_floats(texts: Sequence[str], column: str) -> np.ndarray:
    return _floats(texts, column, optional=False)


def _text(texts: Sequence[str], column: str, *, max_length: int) -> list[str | None]:
    longest = max(map(len, texts), default=0)
    if longest > max_length:
        row = next(row for row, text in enumerate(texts) if len(text) == longest)
        raise BadValue(row, f"{column} is {longest} characters long (at most {max_length})")
    return [None if text == _MISSING else text for text in texts]


def _strand(texts: Sequence[str], column: str) -> list[str | None]:
    if not _STRANDS.issuperset(texts):
        row = next(row for row, text in enumerate(texts) if text not in _STRANDS)
        raise BadValue(row, f"{column} {clip(texts[row])!r} is not one of '+', '-', '.'")
    return [None if text == _MISSING else text for text in texts]


def _chromosome(texts: Sequence[str], column: str) -> list[str]:
    return list(texts)


#: The converter of each kind of the column table.
_BY_KIND: dict[Kind, Callable[[str], Converter]] = {
    "integer": lambda field: _integers,
    "float": lambda field: _optional_floats,
    "text": lambda field: partial(_text, max_length=BY_NAME[field].max_length),
}

#: Fields whose rules differ from their kind's.
_SPECIAL: dict[str, Converter] = {
    "chromosome": _chromosome,
    "strand": _strand,
    "p_value": _significance,
    "q_value": _significance,
    "value": _required_floats,
}


def converter(field: str) -> Converter:
    """The converter of ``field`` (a column of the column table)."""
    special = _SPECIAL.get(field)
    if special is not None:
        return special
    return _BY_KIND[BY_NAME[field].kind](field)
