"""Rows -> one compact table (text and markdown), ratios to the in-process limit, target checks.

The ratio of a row is its windows/s over the in-process engine limit of the same shape,
measured in the same run. Targets are the issue's; a miss is printed, never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.benchmarks.common import Row

Check = Callable[[dict[str, float], float | None], bool]


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: which rows it applies to, what it asks, how to check it."""

    section: str
    name_prefix: str
    shape: str  # "" for any shape
    text: str | Callable[[dict[str, float]], str]
    check: Check | None  # None: a figure to show, no target

    def verdict(self, row: Row, q: float | None) -> str:
        text = self.text if isinstance(self.text, str) else self.text(row.values)
        if self.check is None:
            return text
        return f"{text}: {'met' if self.check(row.values, q) else 'MISSED'}"

    def applies(self, row: Row) -> bool:
        return (
            row.section == self.section
            and row.name.startswith(self.name_prefix)
            and self.shape in ("", row.shape)
        )


def _anon_growth(v: dict[str, float]) -> float:
    return v["anon_peak_MB"] - v["anon_start_MB"]


STREAM = "1 client, stream + decode"
TARGETS = (
    Target("remote", STREAM, "101bp x128", ">= 40 %", lambda v, q: (q or 0) >= 0.40),
    Target("remote", STREAM, "101bp x1024", ">= 60 %", lambda v, q: (q or 0) >= 0.60),
    Target("remote", STREAM, "131kbp x8", ">= 300 MB/s", lambda v, q: v["payload_MB_per_s"] >= 300),
    Target("first batch", "spec already", "", "<= 0.5 s", lambda v, q: v["first_batch_s"] <= 0.5),
    Target("first batch", "new spec", "", "<= 5 s", lambda v, q: v["first_batch_s"] <= 5.0),
    Target("client decode", "packed", "", ">= 1 GB/s", lambda v, q: v["GB_per_s_out"] >= 1.0),
    Target("client decode", "zero-copy", "", "view", lambda v, q: v["bytes_to_numpy_is_view"] == 1),
    Target(
        "server memory",
        "RSS while streaming",
        "",
        lambda v: f"anon +{_anon_growth(v):.0f} MB < genome {v['genome_file_MB']:.0f} MB",
        lambda v, q: _anon_growth(v) < v["genome_file_MB"],
    ),
    Target(
        "server memory",
        "RSS, planned specs",
        "",
        lambda v: f"anon {v['anon_start_MB']:.0f} -> {v['anon_end_MB']:.0f} MB, flat (< 5 %)",
        lambda v, q: v["anon_end_MB"] - v["anon_start_MB"] < 0.05 * v["anon_start_MB"],
    ),
    Target(
        "server memory",
        "RSS, new plan",
        "",
        lambda v: f"anon +{_anon_growth(v):.0f} MB at peak, {v['anon_end_MB']:.0f} MB after",
        None,
    ),
    Target(
        "server memory",
        "genome mapping",
        "",
        lambda v: f"{v['resident_MB']:.0f} MB resident, shared, no private copy",
        lambda v, q: v["private_dirty_MB"] + v["anonymous_MB"] == 0,
    ),
)

COLUMNS = (
    "section",
    "benchmark",
    "shape",
    "windows/s",
    "MB/s",
    "1st batch s",
    "ratio",
    "x local",
    "target",
)


def _rates(rows: list[Row], section: str, prefix: str) -> dict[str, float]:
    return {
        r.shape: r.values["windows_per_s"]
        for r in rows
        if r.section == section and r.name.startswith(prefix)
    }


def _limits(rows: list[Row]) -> dict[str, float]:
    """Windows/s of the in-process engine limit, per shape."""
    return _rates(rows, "in-process", "engine limit")


def ratio(row: Row, limits: dict[str, float]) -> float | None:
    if "windows_per_s" not in row.values or row.shape not in limits:
        return None
    return row.values["windows_per_s"] / limits[row.shape]


def verdict(row: Row, q: float | None) -> str:
    for target in TARGETS:
        if target.applies(row):
            return target.verdict(row, q)
    return ""


def _times(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}x"


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return ""
    if digits:
        return f"{value:,.{digits}f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def table_cells(rows: list[Row]) -> list[list[str]]:
    """The compact table: rows with a throughput, a time to first batch or a target."""
    limits = _limits(rows)
    local = _rates(rows, "baseline", "local loader")
    cells = []
    for row in rows:
        v = row.values
        q = ratio(row, limits)
        target = verdict(row, q)
        if not ({"windows_per_s", "first_batch_s"} & v.keys()) and not target:
            continue
        payload = v.get("payload_MB_per_s", v.get("GB_per_s_out", 0) * 1e3 or None)
        cells.append(
            [
                row.section,
                row.name,
                row.shape,
                _number(v.get("windows_per_s")),
                _number(payload),
                _number(v.get("first_batch_s"), 3) if "first_batch_s" in v else "",
                f"{100 * q:.0f} %" if q is not None else "",
                _times(ratio(row, local)) if row.section != "baseline" else "",
                target,
            ]
        )
    return cells


def details(rows: list[Row]) -> list[str]:
    """Every row's full figures, one line each (breakdowns, CPU per window, memory)."""
    lines = []
    for row in rows:
        figures = ", ".join(f"{k}={_number(v)}" for k, v in row.values.items())
        note = f"  ({row.note})" if row.note else ""
        lines.append(f"{row.section} | {row.name} | {row.shape}: {figures}{note}")
    return lines


FOOTNOTE = (
    "MB/s: wire payload (packed bases + labels) for engine and streams, float32 output for "
    "client decode. ratio: windows/s over the in-process engine limit of the same shape. "
    "x local: over the pyfaidx + numpy loader of the same shape."
)


def text_table(rows: list[Row]) -> str:
    cells = [list(COLUMNS), *table_cells(rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, FOOTNOTE])


def markdown_table(rows: list[Row]) -> str:
    cells = table_cells(rows)
    head = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(c or " " for c in line) + " |" for line in cells]
    return "\n".join([head, rule, *body, "", FOOTNOTE])
