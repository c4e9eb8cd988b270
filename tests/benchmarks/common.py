"""What every benchmark shares: the window shapes, their specs, and one result row.

Client-side only (numpy, peaksql): spawned client processes import this module, so it must
not pull in the server (numba, SQLAlchemy).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from peaksql.core.spec import DatasetSpec

#: Label mode of every benchmark spec (the issue's orientation figures use `any`).
LABEL = "any"
SEED = 0


@dataclass(frozen=True)
class Shape:
    """One window shape: length, stride (tiling the genome) and batch size."""

    name: str
    seq_length: int
    stride: int
    batch_size: int

    def spec(self, conditions: tuple[str, ...]) -> DatasetSpec:
        return DatasetSpec(
            seq_length=self.seq_length,
            stride=self.stride,
            label=LABEL,
            conditions=conditions,
            seed=SEED,
        )

    def dataset_kwargs(self, conditions: tuple[str, ...]) -> dict[str, Any]:
        """Arguments of ``Client.dataset`` for this shape (shuffled, float32 one-hot)."""
        return {
            "seq_length": self.seq_length,
            "stride": self.stride,
            "label": LABEL,
            "conditions": conditions,
            "batch_size": self.batch_size,
            "shuffle": True,
            "seed": SEED,
        }

    def payload_bytes(self, num_windows: int, num_labels: int) -> int:
        """Wire payload of ``num_windows`` windows: packed bases + bit-packed labels."""
        return num_windows * ((self.seq_length + 1) // 2) + (num_windows * num_labels + 7) // 8


SHAPES = (
    Shape("101bp x128", 101, 100, 128),
    Shape("101bp x1024", 101, 100, 1024),
    Shape("1kbp x128", 1_000, 200, 128),
    Shape("131kbp x8", 131_072, 8_192, 8),
)
HEADLINE = SHAPES[0]
#: One window per message: windows/s is messages/s, the per-message cost of the transport.
PER_MESSAGE = Shape("101bp x1", 101, 100, 1)
#: A spec that is planned from every interval of the catalog (no condition named), used for
#: the time to first batch of a new plan; its length differs from every shape's, so no other
#: benchmark plans it first.
NEW_PLAN = Shape("new plan, all intervals", 200, 200, 128)


@dataclass
class Row:
    """One printed figure: a benchmark, a shape, its numbers (units in the key names)."""

    section: str
    name: str
    shape: str = ""
    values: dict[str, float] = field(default_factory=dict)
    note: str = ""


class Stopwatch:
    """Counts windows and bytes over a timed loop; the clock starts at the first item."""

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.first: float | None = None
        self.last = self.began
        self.windows = 0
        self.windows_after_first = 0

    def tick(self, windows: int) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        else:
            self.windows_after_first += windows
        self.windows += windows
        self.last = now

    @property
    def first_seconds(self) -> float:
        return (self.first or self.last) - self.began

    @property
    def steady_seconds(self) -> float:
        """Time from the first item to the last (excludes the time to first batch)."""
        return max(self.last - (self.first or self.last), 1e-9)

    def windows_per_second(self) -> float:
        return self.windows_after_first / self.steady_seconds


def best_row(measure: Callable[[], Row], repeats: int) -> Row:
    """Run ``measure`` ``repeats`` times; the row of most windows/s, with the spread added.

    Capacity on a shared machine: other tenants only ever slow a run down, so the best of a
    few runs is the closest to what the code can do (as ``timeit`` takes the minimum time);
    the spread ((best - worst) / best) says how noisy the machine was.
    """
    rows = [measure() for _ in range(max(1, repeats))]
    rows.sort(key=lambda r: r.values["windows_per_s"])
    best = rows[-1]
    if len(rows) > 1:
        rates = [r.values["windows_per_s"] for r in rows]
        best.values["spread"] = (rates[-1] - rates[0]) / rates[-1]
        best.note = (best.note + "; " if best.note else "") + f"best of {len(rows)}"
    return best
