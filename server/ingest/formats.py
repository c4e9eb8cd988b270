"""The registry of interval file formats: :data:`FORMATS`, name -> :class:`FormatSpec`.

Everything that names formats reads it: ``read_intervals`` (which column means what), format
detection by extension, the error messages and the ``peaksql add-data`` choices and help.
Adding a format is one :class:`FormatSpec` entry below (plus a test); its columns map to
fields of the column table (``peaksql.server.catalog.columns``), so a new *kind* of value is
a new column there first (and a converter in ``converters`` if no existing one fits).

Formats share the reading rules of ``lines`` (gzip, comments, separators) and of
``converters`` (``.`` for missing, the meaning of -1):

* Coordinates are 0-based, half-open: ``0 <= start <= end``.
* Every line of a file has the same number of columns (as the BED specification asks),
  between the format's ``min_columns`` and ``max_columns``; columns mapped to no field
  (BED's thickStart .. blockStarts) are accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from peaksql.core.errors import InvalidArgument
from peaksql.server.catalog.columns import BY_NAME, OPTIONAL_FIELDS

#: The fields every format starts with: where an interval is.
LOCATION_FIELDS: tuple[str, ...] = ("chromosome", "start", "end")
#: The fields a format's columns may fill: the location, then the stored interval columns.
FILE_FIELDS: tuple[str, ...] = (*LOCATION_FIELDS, *OPTIONAL_FIELDS)


@dataclass(frozen=True)
class FormatSpec:
    """What each column of a format means.

    ``columns`` names the leading columns in order, as ``(column name in the file, field)``;
    a field is one of :data:`FILE_FIELDS` (a column of the column table), ``None``: accepted,
    not stored. A line has between ``min_columns`` and ``len(columns)`` fields.
    ``extensions`` (lower case, with the dot) name the format in a file name.
    """

    name: str
    display_name: str
    extensions: tuple[str, ...]
    columns: tuple[tuple[str, str | None], ...]
    min_columns: int

    def __post_init__(self) -> None:
        unknown = [f for _, f in self.columns if f is not None and f not in FILE_FIELDS]
        if unknown or not 0 < self.min_columns <= self.max_columns:
            raise ValueError(f"format {self.name}: bad columns {unknown} or min_columns")
        if tuple(f for _, f in self.columns[: len(LOCATION_FIELDS)]) != LOCATION_FIELDS:
            raise ValueError(f"format {self.name}: must start with {LOCATION_FIELDS}")

    @property
    def max_columns(self) -> int:
        return len(self.columns)

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields this format fills, in column order."""
        return tuple(field for _, field in self.columns if field is not None)

    def describe_count(self) -> str:
        if self.min_columns == self.max_columns:
            return f"{self.max_columns}"
        return f"{self.min_columns} to {self.max_columns}"

    def describe(self) -> str:
        """The display name, with the column count when it varies: ``BED (3 to 12 columns)``."""
        if self.min_columns == self.max_columns:
            return self.display_name
        return f"{self.display_name} ({self.describe_count()} columns)"


_LOCATION = (("chrom", "chromosome"), ("start", "start"), ("end", "end"))
_NAMED = (*_LOCATION, ("name", "name"), ("score", "score"), ("strand", "strand"))
_PEAK_STATS = (("signalValue", "signal_value"), ("pValue", "p_value"), ("qValue", "q_value"))

#: Format name -> spec, in the order help texts list them. Names are lower case;
#: ``get_format`` accepts any case.
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

assert all(field in BY_NAME for field in FILE_FIELDS), "FILE_FIELDS must be catalog columns"

#: Signal formats: stored as signal tracks (``ingest.signals``), not as interval rows.
#: name -> extensions. ``bedgraph-signal`` is a bedGraph read as a signal track (a plain
#: ``bedgraph`` stays intervals, its value served as signal by ``label="signal"``).
SIGNAL_FORMATS: dict[str, tuple[str, ...]] = {
    "bigwig": (".bw", ".bigwig"),
    "bedgraph-signal": (),
}


def format_names() -> tuple[str, ...]:
    """The format names, in registry order (the ``--format`` choices)."""
    return (*FORMATS, *SIGNAL_FORMATS)


def resolve_format(path: str | Path, fmt: str | None) -> str:
    """The format of ``path``: ``fmt`` (any case) if given, else detected."""
    if fmt and fmt.lower() in SIGNAL_FORMATS:
        return fmt.lower()
    return get_format(fmt).name if fmt else detect_format(path)


def is_signal_format(name: str) -> bool:
    """Whether format ``name`` is stored as a signal track."""
    return name.lower() in SIGNAL_FORMATS


def _format_list() -> str:
    return ", ".join(sorted(format_names()))


def _has_bigwig_magic(path: str | Path) -> bool:
    """bigWig magic 0x888FFC26 (either byte order) in the file's first four bytes."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) in (b"\x26\xfc\x8f\x88", b"\x88\x8f\xfc\x26")
    except OSError:
        return False


def _english_list(words: Sequence[str], last: str = "or") -> str:
    """``a, b or c``."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def display_names() -> str:
    """``BED, narrowPeak, broadPeak, bedGraph``: every format, for a short help line."""
    return ", ".join(spec.display_name for spec in FORMATS.values())


def describe_formats() -> str:
    """``BED (3 to 12 columns), narrowPeak, broadPeak or bedGraph``: for a help paragraph."""
    return _english_list([spec.describe() for spec in FORMATS.values()])


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
    for signal, extensions in SIGNAL_FORMATS.items():
        for extension in extensions:
            if lower.endswith(extension) and len(name) > len(extension):
                return name[: -len(extension)], signal
    for spec in FORMATS.values():
        for extension in spec.extensions:
            if lower.endswith(extension) and len(name) > len(extension):
                return name[: -len(extension)], spec.name
    stem, dot, _ = name.rpartition(".")
    return (stem if dot and stem else name), None


def detect_format(path: str | Path) -> str:
    """The format named by ``path``'s extension (one of a spec's ``extensions``, any case,
    optionally followed by ``.gz``).
    """
    if _has_bigwig_magic(path):
        return "bigwig"
    _, fmt = split_extensions(path)
    if fmt is None:
        raise InvalidArgument(
            f"cannot tell the format of {path} from its extension; pass --format with one of: "
            f"{_format_list()}"
        )
    return fmt
