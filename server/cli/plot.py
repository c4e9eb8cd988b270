"""``describe --plot``: label balance per column, windows per region, and a region view.

Drawn with matplotlib (the optional ``plot`` extra) on a bare ``Figure`` (no pyplot, no GUI
backend, nothing global changed), saved in the format the file name's extension names.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from peaksql.client import Description
from peaksql.core.errors import InvalidArgument
from peaksql.server.cli.region_view import RegionView, runs

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: Most bars per chart (label columns, regions); the rest are summed up in the title.
MAX_BARS = 30
#: Most windows drawn in the region view (evenly thinned beyond), and rows they stack in.
MAX_DRAWN, MAX_ROWS = 400, 12
POSITIVE, NEGATIVE, UNKNOWN = "#d62728", "#9e9e9e", "#f0f0f0"


def require_matplotlib() -> None:
    """Fail early, with the install line, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InvalidArgument(
            "--plot needs matplotlib: pip install 'peaksql[plot]' (or pip install matplotlib)"
        ) from None


def _label_balance(ax: Axes, description: Description, counted: bool) -> None:
    names = description.label_columns[:MAX_BARS]
    total = max(description.num_windows, 1)
    fractions = np.array(description.num_positive[: len(names)], dtype=float) / total
    y = np.arange(len(names))
    ax.barh(y, np.ones(len(names)), color=UNKNOWN, edgecolor="none")
    ax.barh(y, fractions, color=POSITIVE if counted else UNKNOWN)
    for row, (count, fraction) in enumerate(zip(description.num_positive, fractions, strict=False)):
        text = f"{count:,} ({100 * fraction:.1f} %)" if counted else "not counted"
        ax.text(
            0.99,
            row,
            text,
            va="center",
            ha="right",
            fontsize=8,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
        )
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of windows positive")
    more = len(description.label_columns) - len(names)
    title = f"Label balance per column ({description.num_windows:,} windows)"
    ax.set_title(title + (f", {more} more columns not shown" if more > 0 else ""), fontsize=10)
    if not names:
        ax.text(0.5, 0.5, "no label columns", ha="center", va="center", transform=ax.transAxes)


def _windows_per_region(ax: Axes, description: Description) -> None:
    regions = description.regions[:MAX_BARS]
    several = len({r.assembly for r in description.regions}) > 1
    names = [f"{r.assembly}:{r.chromosome}" if several else r.chromosome for r in regions]
    y = np.arange(len(regions))
    ax.barh(y, [r.num_windows for r in regions], color="#1f77b4")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("windows")
    ax.xaxis.set_major_formatter(_thousands())
    rest = description.regions[MAX_BARS:]
    count = len(description.regions)
    title = f"Windows per region ({count:,} region{'' if count == 1 else 's'})"
    if rest:
        title += f"; {len(rest)} more with {sum(r.num_windows for r in rest):,} windows not shown"
    ax.set_title(title, fontsize=10)


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:,.0f}")


def stack_rows(starts: np.ndarray, length: int, max_rows: int = MAX_ROWS) -> np.ndarray:
    """A row per window so that windows in one row do not overlap (greedy, by start); past
    ``max_rows`` rows they share rows round robin."""
    rows = np.zeros(starts.shape[0], dtype=np.int64)
    ends: list[int] = []
    for i in np.argsort(starts, kind="stable"):
        free = next((r for r, end in enumerate(ends) if end <= starts[i]), None)
        if free is None and len(ends) < max_rows:
            free = len(ends)
            ends.append(0)
        rows[i] = free if free is not None else i % max_rows
        ends[rows[i]] = max(ends[rows[i]], int(starts[i]) + length)
    return rows


def _region_view(ax: Axes, view: RegionView) -> None:
    s = view.stretch
    tracks = len(view.columns)
    for row, covered in enumerate(view.coverage):
        spans = [(s.start + a, n) for a, n in runs(covered)]
        ax.broken_barh(spans, (row + 0.15, 0.7), color=f"C{row % 10}")
    if view.covered_until < s.end:
        gap = (view.covered_until, s.end - view.covered_until)
        ax.broken_barh([gap], (0, max(tracks, 1)), color=UNKNOWN, hatch="//", edgecolor="#cccccc")
    keep = np.arange(view.window_starts.shape[0])
    step = max(1, -(-keep.size // MAX_DRAWN))
    keep = keep[::step]
    starts, positive = view.window_starts[keep], view.window_positive[keep]
    rows = stack_rows(starts, view.seq_length)
    base = tracks + 0.5
    for flag, color in ((False, NEGATIVE), (True, POSITIVE)):
        chosen = positive == flag
        for row in np.unique(rows[chosen]):
            spans = [(int(a), view.seq_length) for a in starts[chosen & (rows == row)]]
            ax.broken_barh(spans, (base + row + 0.2, 0.6), color=color, edgecolor="white", lw=0.5)
    window_rows = int(rows.max()) + 1 if rows.size else 1
    ticks = [*(i + 0.5 for i in range(tracks)), base + window_rows / 2]
    ax.set_yticks(ticks, [*view.columns, "windows"], fontsize=8)
    ax.set_ylim(base + window_rows + 0.2, 0)
    ax.set_xlim(s.start, s.end)
    ax.xaxis.set_major_formatter(_thousands())
    ax.set_xlabel(f"{s.assembly} {s.chromosome} (bp)")
    shown = view.window_starts.shape[0]
    title = f"{s}: {shown:,} windows ({int(view.window_positive.sum()):,} positive in a column)"
    if step > 1:
        title += f", every {step}th drawn"
    notes = ["intervals as the labels see them (merged, constraint applied)"]
    notes += [view.note] if view.note else []
    ax.set_title(f"{title}\n{'; '.join(notes)}", fontsize=10)
    _legend(ax)


def _legend(ax: Axes) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(color=POSITIVE, label="window, positive"),
        Patch(color=NEGATIVE, label="window, negative"),
    ]
    ax.legend(handles=handles, loc="upper right", bbox_to_anchor=(1, -0.06), ncols=2, fontsize=8)


def draw(
    path: Path, description: Description, view: RegionView | None, counted: bool = True
) -> Path:
    """Write the figure to ``path`` (format from its extension, e.g. .png, .pdf, .svg)."""
    require_matplotlib()
    from matplotlib.figure import Figure

    bars = max(min(len(description.label_columns), MAX_BARS), len(description.regions[:MAX_BARS]))
    top = 1.4 + 0.22 * max(bars, 2)
    bottom = 2.2 + 0.3 * (len(view.columns) + MAX_ROWS / 2) if view else 0.1
    figure = Figure(figsize=(12, top + bottom), layout="constrained")
    grid = figure.add_gridspec(2 if view else 1, 2, height_ratios=[top, bottom] if view else [1])
    _label_balance(figure.add_subplot(grid[0, 0]), description, counted)
    _windows_per_region(figure.add_subplot(grid[0, 1]), description)
    if view is not None:
        _region_view(figure.add_subplot(grid[1, :]), view)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path
