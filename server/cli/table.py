"""Aligned text columns for the ``peaksql`` commands' human output (``--json`` is for machines)."""

from __future__ import annotations

from collections.abc import Sequence

#: Cells are text; a column of numbers is right-aligned, anything else left-aligned.
Row = Sequence[object]


def _cell(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def format_table(
    header: Row, rows: Sequence[Row], indent: str = "  ", align: str | None = None
) -> list[str]:
    """Lines of ``header`` and ``rows`` in columns two spaces apart, numbers right-aligned.

    ``align`` gives each column's alignment (``"l"`` or ``"r"``, e.g. ``"llrr"``); without it
    a column is right-aligned when every non-empty cell of it is a number. Ints get thousands
    separators. Trailing blanks are stripped.
    """
    cells = [[_cell(v) for v in header]] + [[_cell(v) for v in row] for row in rows]
    columns = len(header)
    widths = [max(len(line[c]) for line in cells) for c in range(columns)]
    right = (
        [a == "r" for a in align]
        if align
        else [
            bool(rows) and all(_numeric(row[c]) for row in rows if row[c] not in (None, ""))
            for c in range(columns)
        ]
    )
    lines = []
    for line in cells:
        parts = [
            line[c].rjust(widths[c]) if right[c] else line[c].ljust(widths[c])
            for c in range(columns)
        ]
        lines.append((indent + "  ".join(parts)).rstrip())
    return lines
