"""Parsers for BED-like interval files: bytes -> lines -> rows of fields -> IntervalChunk columns.

Pure functions over files, no database. One generic parser reads every format; a format is a
:class:`FormatSpec` (which column means what) chosen by name from :data:`FORMATS`.

Reading rules, the same for every format:

* gzip is detected by its magic bytes, not by the file name; text must be UTF-8.
* Blank lines and lines starting with ``#``, ``track`` or ``browser`` are skipped.
* Fields are separated by tabs. A line without any tab is split on runs of whitespace instead,
  because many tools write BED with spaces; a tab-separated line keeps spaces inside fields
  (a name such as ``my peak``). Trailing whitespace (and ``\\r``) is dropped.
* Coordinates are 0-based, half-open: ``0 <= start <= end``.
* ``.`` means "missing" (NULL) for the name, the strand and the optional numbers (score,
  signalValue, pValue, qValue). pValue and qValue of ``-1`` also mean missing, as the
  narrowPeak and broadPeak specifications define -1 as "not assigned"; a narrowPeak peak
  (summit offset) of ``-1`` likewise. The bedGraph value is required.
* Every line of a BED file has the same number of columns (as the BED specification asks);
  BED columns past the strand (thickStart .. blockStarts) are accepted and ignored.

Speed (a million narrowPeak lines in about 2 s): only skipping comment lines is per line;
a chunk's fields come from one join and one split, its columns are strided slices converted
by numpy, and a bad value is located (line, column, text) only after a vectorised check fails.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import BinaryIO

import numpy as np

from peaksql.core.errors import InputFileError, InvalidArgument
from peaksql.server.catalog.columns import OPTIONAL_FIELDS

#: Longest name the ``intervals.name`` column holds (String(255)).
MAX_NAME_LENGTH = 255
#: ``IntervalChunk.summit`` value for "no summit" (narrowPeak peak ``-1``).
NO_SUMMIT = -1

_GZIP_MAGIC = b"\x1f\x8b"
_BLOCK_BYTES = 1 << 22
_SKIPPED_PREFIXES = ("#", "track", "browser")
_STRANDS = frozenset(("+", "-", "."))
_MISSING = "."


@dataclass(frozen=True)
class FormatSpec:
    """What each column of a format means.

    ``columns`` names the leading columns in order, as ``(column name in the file, kind)``;
    kinds are the keys of ``_PARSERS`` (``None``: accepted, not stored). A line has between
    ``min_columns`` and ``len(columns)`` fields.
    """

    name: str
    display_name: str
    extensions: tuple[str, ...]
    columns: tuple[tuple[str, str | None], ...]
    min_columns: int

    @property
    def max_columns(self) -> int:
        return len(self.columns)

    def describe_count(self) -> str:
        if self.min_columns == self.max_columns:
            return f"{self.max_columns}"
        return f"{self.min_columns} to {self.max_columns}"


_LOCATION = (("chrom", "chromosome"), ("start", "start"), ("end", "end"))
_NAMED = (*_LOCATION, ("name", "name"), ("score", "score"), ("strand", "strand"))
_PEAK_STATS = (("signalValue", "signal_value"), ("pValue", "p_value"), ("qValue", "q_value"))

#: Format name -> spec. Names are lower case; ``get_format`` accepts any case.
FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec(
            name="bed",
            display_name="BED",
            extensions=(".bed",),
            columns=(
                *_NAMED,
                ("thickStart", None),
                ("thickEnd", None),
                ("itemRgb", None),
                ("blockCount", None),
                ("blockSizes", None),
                ("blockStarts", None),
            ),
            min_columns=3,
        ),
        FormatSpec(
            name="narrowpeak",
            display_name="narrowPeak",
            extensions=(".narrowpeak",),
            columns=(*_NAMED, *_PEAK_STATS, ("peak", "summit")),
            min_columns=10,
        ),
        FormatSpec(
            name="broadpeak",
            display_name="broadPeak",
            extensions=(".broadpeak",),
            columns=(*_NAMED, *_PEAK_STATS),
            min_columns=9,
        ),
        FormatSpec(
            name="bedgraph",
            display_name="bedGraph",
            extensions=(".bedgraph", ".bdg"),
            columns=(*_LOCATION, ("value", "value")),
            min_columns=4,
        ),
    )
}


def _format_list() -> str:
    return ", ".join(sorted(FORMATS))


def get_format(name: str) -> FormatSpec:
    """The spec of format ``name`` (case-insensitive); InvalidArgument listing the formats."""
    spec = FORMATS.get(name.lower())
    if spec is None:
        raise InvalidArgument(f"unknown format {name!r}; the formats are: {_format_list()}")
    return spec


def split_extensions(path: str | Path) -> tuple[str, str | None]:
    """``liver.narrowPeak.gz`` -> (``liver``, ``narrowpeak``): the stem and the format the
    extension names (None when the extension is not a known one; the stem then loses it).
    """
    name = Path(path).name
    if name.lower().endswith(".gz"):
        name = name[: -len(".gz")]
    lower = name.lower()
    for spec in FORMATS.values():
        for extension in spec.extensions:
            if lower.endswith(extension) and len(name) > len(extension):
                return name[: -len(extension)], spec.name
    stem, dot, _ = name.rpartition(".")
    return (stem if dot and stem else name), None


def detect_format(path: str | Path) -> str:
    """The format named by ``path``'s extension (``.bed``, ``.narrowPeak``, ``.broadPeak``,
    ``.bedGraph``, ``.bdg``; any case; optionally followed by ``.gz``).
    """
    _, fmt = split_extensions(path)
    if fmt is None:
        raise InvalidArgument(
            f"cannot tell the format of {path} from its extension; pass --format with one of: "
            f"{_format_list()}"
        )
    return fmt


@dataclass(frozen=True, repr=False)
class IntervalChunk:
    """Up to ``chunk_lines`` intervals of one file, column by column.

    ``line`` holds each row's 1-based line number in the file (for error messages).
    Columns a format lacks are None. Missing values: None in ``name``/``strand``, NaN in the
    float columns, :data:`NO_SUMMIT` in ``summit``. ``file_offset`` is how far into the file
    on disk (compressed bytes for gzip) reading had got, for progress bars.
    """

    chromosome: list[str]
    start: np.ndarray
    end: np.ndarray
    line: np.ndarray
    file_offset: int = 0
    name: list[str | None] | None = None
    score: np.ndarray | None = None
    strand: list[str | None] | None = None
    signal_value: np.ndarray | None = None
    p_value: np.ndarray | None = None
    q_value: np.ndarray | None = None
    summit: np.ndarray | None = None
    value: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.chromosome)

    def __repr__(self) -> str:
        present = [name for name in OPTIONAL_FIELDS if getattr(self, name) is not None]
        lines = f"lines {self.line[0]}-{self.line[-1]}" if len(self) else "no lines"
        return f"IntervalChunk({len(self)} intervals, {lines}, columns {present})"


# ---------------------------------------------------------------------------------------------
# bytes -> numbered lines


def _open_binary(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(raw file, stream of decompressed bytes); gzip chosen by the magic bytes."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as error:
        raise InputFileError(path, None, f"cannot read the file: {error.strerror}") from error
    if raw.read(2) == _GZIP_MAGIC:
        raw.seek(0)
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    raw.seek(0)
    return raw, raw


def _numbered_blocks(path: Path) -> Iterator[tuple[int, list[str], int]]:
    """Yield (number of the first line, lines, bytes of the file read so far) per block.

    Blocks of a few MiB, cut after their last newline, are decoded at once (per-line decoding
    would cost more than the parsing). NUL bytes or invalid UTF-8 mean the file is not text.
    """
    raw, stream = _open_binary(path)
    first_line = 1
    pending = b""
    with raw, stream:
        while True:
            try:
                block = stream.read(_BLOCK_BYTES)
            except (OSError, EOFError, zlib.error) as error:
                raise InputFileError(
                    path, first_line, f"cannot decompress the gzip data: {error}"
                ) from error
            data = pending + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            data, pending = data[:cut], data[cut:]
            if data:
                yield first_line, _decode_lines(data, first_line, path), raw.tell()
                first_line += data.count(b"\n")
            if not block:
                return


def _decode_lines(data: bytes, first_line: int, path: Path) -> list[str]:
    """The lines of ``data`` (complete lines, except maybe at the end of the file)."""
    if b"\x00" in data:
        line = first_line + data.count(b"\n", 0, data.index(b"\x00"))
        raise InputFileError(path, line, "not a text file (it contains a NUL byte)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = first_line + data.count(b"\n", 0, error.start)
        raise InputFileError(
            path, line, f"not a text file (byte 0x{data[error.start]:02x} is not UTF-8)"
        ) from error
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


# ---------------------------------------------------------------------------------------------
# column converters: (texts, spec column name) -> array or list; raise _BadValue(row, problem)


class _BadValue(Exception):
    def __init__(self, row: int, problem: str) -> None:
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
        raise _BadValue(row, f"{column} {texts[row]!r} is not an integer") from None


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
        raise _BadValue(row, f"{column} {texts[row]!r} is not a number") from None
    bad = ~np.isfinite(values)
    if missing is not None:
        bad &= ~missing
    if bad.any():
        row = int(np.argmax(bad))
        raise _BadValue(row, f"{column} {texts[row]!r} is not a finite number")
    return values


def _score(texts: Sequence[str], column: str) -> np.ndarray:
    return _floats(texts, column, optional=True)


def _significance(texts: Sequence[str], column: str) -> np.ndarray:
    values = _floats(texts, column, optional=True)
    values[values == -1] = np.nan
    return values


def _value(texts: Sequence[str], column: str) -> np.ndarray:
    return _floats(texts, column, optional=False)


def _name(texts: Sequence[str], column: str) -> list[str | None]:
    longest = max(map(len, texts), default=0)
    if longest > MAX_NAME_LENGTH:
        row = next(row for row, text in enumerate(texts) if len(text) == longest)
        raise _BadValue(row, f"{column} is {longest} characters long (at most {MAX_NAME_LENGTH})")
    return [None if text == _MISSING else text for text in texts]


def _strand(texts: Sequence[str], column: str) -> list[str | None]:
    if not _STRANDS.issuperset(texts):
        row = next(row for row, text in enumerate(texts) if text not in _STRANDS)
        raise _BadValue(row, f"{column} {texts[row]!r} is not one of '+', '-', '.'")
    return [None if text == _MISSING else text for text in texts]


def _chromosome(texts: Sequence[str], column: str) -> list[str]:
    return list(texts)


#: kind -> converter; the kinds are also IntervalChunk's attribute names.
_PARSERS: dict[str, Callable[[Sequence[str], str], object]] = {
    "chromosome": _chromosome,
    "start": _integers,
    "end": _integers,
    "name": _name,
    "score": _score,
    "strand": _strand,
    "signal_value": _score,
    "p_value": _significance,
    "q_value": _significance,
    "summit": _integers,
    "value": _value,
}


# ---------------------------------------------------------------------------------------------
# rows -> chunk


def _check_column_counts(
    spec: FormatSpec, rows: list[str], lines: list[int], path: Path, expected: int | None
) -> int:
    """The number of columns every row has; InputFileError unless all rows agree and the
    count suits the format. ``expected`` is the count of earlier chunks (every line of a file
    has as many columns as its first, as BED asks).
    """
    counts = np.fromiter(map(str.count, rows, repeat("\t")), dtype=np.int64, count=len(rows))
    counts += 1
    if expected is None:
        expected = int(counts[0])
    if spec.min_columns <= expected <= spec.max_columns:
        bad = counts != expected
        if not bad.any():
            return expected
        row = int(np.argmax(bad))
    else:
        row = 0
    found = int(counts[row])
    if row and spec.min_columns <= found <= spec.max_columns:
        problem = (
            f"found {found} columns but the first line has {expected}; every line of a "
            f"{spec.display_name} file must have the same number of columns"
        )
    else:
        problem = f"expected {spec.describe_count()} columns for {spec.display_name}, found {found}"
    raise InputFileError(path, lines[row], problem)


def _check_coordinates(chunk_columns: dict[str, object], lines: list[int], path: Path) -> None:
    start = chunk_columns["start"]
    end = chunk_columns["end"]
    assert isinstance(start, np.ndarray) and isinstance(end, np.ndarray)
    negative = start < 0
    if negative.any():
        row = int(np.argmax(negative))
        raise InputFileError(path, lines[row], f"start {start[row]} is negative")
    reversed_ = start > end
    if reversed_.any():
        row = int(np.argmax(reversed_))
        raise InputFileError(path, lines[row], f"start {start[row]} is greater than end {end[row]}")
    summit = chunk_columns.get("summit")
    if isinstance(summit, np.ndarray):
        bad = (summit != NO_SUMMIT) & ((summit < 0) | (summit >= np.maximum(end - start, 1)))
        if bad.any():
            row = int(np.argmax(bad))
            raise InputFileError(
                path,
                lines[row],
                f"peak {summit[row]} is not an offset inside the interval "
                f"(0 to {max(end[row] - start[row] - 1, 0)}, or -1 for none)",
            )


def _to_chunk(
    spec: FormatSpec,
    rows: list[str],
    lines: list[int],
    path: Path,
    num_columns: int,
    file_offset: int,
) -> IntervalChunk:
    """Convert tab-joined rows that all have ``num_columns`` fields, column by column.

    One join and one split of the whole chunk, then strided slices, make the columns: far
    cheaper than a list per row (allocation and garbage-collector work for a million lists).
    """
    fields = "\t".join(rows).split("\t")
    converted: dict[str, object] = {}
    for index in range(num_columns):
        column_name, kind = spec.columns[index]
        if kind is None:
            continue
        try:
            converted[kind] = _PARSERS[kind](fields[index::num_columns], column_name)
        except _BadValue as error:
            raise InputFileError(
                path, lines[error.row], f"column {index + 1}: {error.problem}"
            ) from None
    _check_coordinates(converted, lines, path)
    return IntervalChunk(
        line=np.array(lines, dtype=np.int64),
        file_offset=file_offset,
        **converted,  # type: ignore[arg-type]
    )


def read_intervals(
    path: str | Path, fmt: str, *, chunk_lines: int = 200_000
) -> Iterator[IntervalChunk]:
    """Stream the intervals of ``path`` in format ``fmt``, ``chunk_lines`` rows at a time.

    Raises InputFileError (file, line, problem) at the first bad line; chunks before it have
    already been yielded, so a caller that must be all-or-nothing wraps this in a transaction.
    """
    if chunk_lines < 1:
        raise InvalidArgument(f"chunk_lines must be at least 1, got {chunk_lines}")
    spec = get_format(fmt)
    path = Path(path)
    num_columns: int | None = None
    rows: list[str] = []
    lines: list[int] = []
    offset = 0
    for first_line, block, offset in _numbered_blocks(path):
        for number, text in enumerate(block, first_line):
            text = text.rstrip()
            if not text or text.startswith(_SKIPPED_PREFIXES):
                continue
            rows.append(text if "\t" in text else "\t".join(text.split()))
            lines.append(number)
            if len(rows) >= chunk_lines:
                num_columns = _check_column_counts(spec, rows, lines, path, num_columns)
                yield _to_chunk(spec, rows, lines, path, num_columns, offset)
                rows, lines = [], []
    if rows:
        num_columns = _check_column_counts(spec, rows, lines, path, num_columns)
        yield _to_chunk(spec, rows, lines, path, num_columns, offset)
