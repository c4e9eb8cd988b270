"""The one table of columns: every column a constraint may name, declared once.

The constraint language (its allow-list, text vs number literals, region vs interval
terms), the plan's column map, the ``intervals`` table and the interval file parsers all
read :data:`COLUMNS`; adding an interval column is one entry here plus a migration.

``level`` says what a term on the column restricts: ``region`` columns (chromosome-level)
choose the windowed regions, ``interval`` columns choose the intervals that make labels.
``stored`` interval columns are columns of the ``intervals`` table that file formats fill
(``formats.FormatSpec`` names them); the others are derived (``length``) or joined
(``condition``). ``per_condition`` interval columns have one value per condition
(``condition``): a term naming only these, or condition metadata keys (which are columns
too, allow-listed per catalog: ``catalog.condition_metadata``), selects conditions, not
intervals, and a plan evaluates it once per condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "integer", "float"]
Level = Literal["region", "interval"]


@dataclass(frozen=True)
class ColumnDef:
    """One constraint column: its name, literal kind, level and whether intervals store it."""

    name: str
    kind: Kind
    level: Level
    stored: bool
    doc: str
    max_length: int = 255  # text columns: longest value the table holds
    per_condition: bool = False  # one value per condition: a term on it selects conditions


COLUMNS: tuple[ColumnDef, ...] = (
    ColumnDef("assembly", "text", "region", False, "assembly name"),
    ColumnDef("species", "text", "region", False, "species of the assembly"),
    ColumnDef("chromosome", "text", "region", False, "chromosome name"),
    ColumnDef("chromosome_length", "integer", "region", False, "chromosome length (bp)"),
    ColumnDef(
        "condition", "text", "interval", False, "condition (experiment) name", per_condition=True
    ),
    ColumnDef("start", "integer", "interval", False, "interval start (0-based)"),
    ColumnDef("end", "integer", "interval", False, "interval end (exclusive)"),
    ColumnDef("length", "integer", "interval", False, "end - start"),
    ColumnDef("name", "text", "interval", True, "BED name"),
    ColumnDef("score", "float", "interval", True, "BED score"),
    ColumnDef("strand", "text", "interval", True, "'+', '-' or NULL", max_length=1),
    ColumnDef("signal_value", "float", "interval", True, "narrowPeak/broadPeak signalValue"),
    ColumnDef("p_value", "float", "interval", True, "-log10 p (NULL when -1 in the file)"),
    ColumnDef("q_value", "float", "interval", True, "-log10 q (NULL when -1 in the file)"),
    ColumnDef("summit", "integer", "interval", True, "narrowPeak peak offset from start"),
    ColumnDef("value", "float", "interval", True, "bedGraph value"),
)

BY_NAME: dict[str, ColumnDef] = {c.name: c for c in COLUMNS}
#: Chromosome-level columns: terms naming only these restrict the windowed regions.
REGION_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.level == "region")
#: Interval-level columns: terms naming these restrict the intervals that make labels.
INTERVAL_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.level == "interval")
#: Interval-level columns with one value per condition (metadata keys are such columns too).
CONDITION_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.per_condition)
#: Columns holding text; every other column is numeric.
TEXT_COLUMNS: frozenset[str] = frozenset(c.name for c in COLUMNS if c.kind == "text")
#: Optional interval columns that file formats fill, in table order.
OPTIONAL_FIELDS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.stored)
