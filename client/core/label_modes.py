"""Label modes: the one registry of how a window's coverage becomes its labels.

A label mode is a function ``(coverage, window_starts, length, spec) -> labels`` over three
coverage queries (``CoverageQueries``; the server's ``labels.Coverage`` answers them with
numba kernels), plus the shape of one window's labels. The rules are a line of numpy each,
so they live here, shared: the client checks a spec's mode and parameters when it builds the
spec, the server labels with the same functions. To add a mode: write its function here
under ``@label_mode("name")`` (with ``check`` if it reads a spec parameter) and a test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from peaksql.core.errors import InvalidArgument

if TYPE_CHECKING:
    from peaksql.core.spec import DatasetSpec


class CoverageQueries(Protocol):
    """What a label mode may ask of the label columns about windows ``[w, w + length)``."""

    def covered(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Covered bases per window and column, (B, C) int64."""
        ...

    def count_points(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Summits (or midpoints) per window and column, (B, C) int64."""
        ...

    def covered_mask(self, window_starts: np.ndarray, length: int) -> np.ndarray:
        """Per-base coverage, (B, C, length) bool."""
        ...


class SignalQueries(Protocol):
    """What mode ``signal`` asks of signal columns (the server's ``SignalColumns``)."""

    def signal(
        self, window_starts: np.ndarray, length: int, bin_size: int, aggregate: str, gaps: str
    ) -> np.ndarray:
        """``aggregate`` of each column over each ``bin_size`` bin of ``[w, w + length)``,
        (B, C, length // bin_size) float32; ``gaps`` says how bases without data count."""
        ...


LabelFunction = Callable[["CoverageQueries", np.ndarray, int, "DatasetSpec"], np.ndarray]


def _per_window(num_columns: int, inner_length: int) -> tuple[int, ...]:
    return (num_columns,)


@dataclass(frozen=True)
class LabelMode:
    """One label mode: its labels, the shape of one window's labels, its parameter check."""

    name: str
    labels: LabelFunction
    shape: Callable[[int, int], tuple[int, ...]] = _per_window
    check: Callable[[DatasetSpec], None] | None = None
    #: The function reads ``spec.bin_size`` itself; otherwise ``evaluate_labels`` bins it.
    binned: bool = False
    #: The dtype of its labels: "bool" (bit-packed on the wire), "float32" or "int32".
    dtype: str = "bool"
    #: It counts points (summits or midpoints: ``count_points``); plans of other modes
    #: index no points.
    points: bool = False

    @property
    def doc(self) -> str:
        return (self.labels.__doc__ or "").strip().splitlines()[0]


#: name -> label mode, in the order they were registered (the order error messages list).
LABEL_MODES: dict[str, LabelMode] = {}


def label_mode(
    name: str,
    *,
    shape: Callable[[int, int], tuple[int, ...]] = _per_window,
    check: Callable[[DatasetSpec], None] | None = None,
    binned: bool = False,
    dtype: str = "bool",
    points: bool = False,
) -> Callable[[LabelFunction], LabelFunction]:
    """Register the decorated function as label mode ``name``."""

    def register(function: LabelFunction) -> LabelFunction:
        if name in LABEL_MODES:
            raise ValueError(f"label mode {name!r} is registered twice")
        LABEL_MODES[name] = LabelMode(name, function, shape, check, binned, dtype, points)
        return function

    return register


def get_label_mode(name: str) -> LabelMode:
    """The label mode called ``name``; InvalidArgument naming every mode if there is none."""
    mode = LABEL_MODES.get(name)
    if mode is None:
        raise InvalidArgument(
            f"unknown label mode {name!r}; choose one of {', '.join(LABEL_MODES)}"
        )
    return mode


def describe_label_modes() -> str:
    """One line per label mode: its name and what it labels (for docstrings and help)."""
    return "\n".join(f"- ``{m.name}``: {m.doc}" for m in LABEL_MODES.values())


# --- labels that cannot be known -----------------------------------------------------------

#: ``DatasetSpec.missing``: what a label that cannot be known becomes. A label cannot be
#: known when its column (condition) has no interval at all on the window's assembly (the
#: experiment was not done there), e.g. a mouse window of a human-only condition.
MISSING: dict[str, str] = {
    "zero": "0, like a window without intervals (bool labels; the default)",
    "mask": "NaN: labels travel as float32 (signal labels: their float dtype), NaN where not "
    "known (mask the loss with ~isnan)",
}


def check_missing(name: str) -> None:
    """InvalidArgument naming the choices when ``name`` is not one of ``MISSING``."""
    if name not in MISSING:
        raise InvalidArgument(f"unknown missing={name!r}; choose one of {', '.join(MISSING)}")


def mark_missing(missing: str, labels: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``labels`` (B, C) or (B, C, L) under option ``missing``, ``known`` (B, C) bool.

    "zero" returns the labels as they are (a column without intervals on an assembly is 0
    there anyway); "mask" returns float32 labels, NaN for every label of an unknown column.
    """
    check_missing(missing)
    if missing == "zero":
        return labels
    # float labels (signal, float16 or float32) keep their dtype; others become float32
    marked = labels.copy() if labels.dtype.kind == "f" else labels.astype(np.float32)
    marked[~known] = np.nan
    return marked


# --- the modes -------------------------------------------------------------------------------


@label_mode("any")
def _any(
    coverage: CoverageQueries, starts: np.ndarray, length: int, spec: DatasetSpec
) -> np.ndarray:
    """Positive when any base of the window is covered."""
    return coverage.covered(starts, length) > 0


@label_mode("all")
def _all(
    coverage: CoverageQueries, starts: np.ndarray, length: int, spec: DatasetSpec
) -> np.ndarray:
    """Positive when every base of the window is covered."""
    return coverage.covered(starts, length) == length


def _check_fraction(spec: DatasetSpec) -> None:
    if not 0 < spec.fraction <= 1:
        raise InvalidArgument(f"fraction must be in (0, 1], got {spec.fraction}")


@label_mode("fraction", check=_check_fraction)
def _fraction(
    coverage: CoverageQueries, starts: np.ndarray, length: int, spec: DatasetSpec
) -> np.ndarray:
    """Positive when at least ``fraction`` of the window is covered."""
    # literally covered / length >= fraction: a tolerance on fraction * length (as once
    # here) labels an uncovered window positive for fraction=1e-12
    return coverage.covered(starts, length) / length >= spec.fraction


@label_mode("summit", points=True)
def _summit(
    coverage: CoverageQueries, starts: np.ndarray, length: int, spec: DatasetSpec
) -> np.ndarray:
    """Positive when an interval's summit (or its midpoint, without one) lies in the window."""
    return coverage.count_points(starts, length) > 0


def _per_base_shape(num_columns: int, inner_length: int) -> tuple[int, ...]:
    return (num_columns, inner_length)


def _check_per_base(spec: DatasetSpec) -> None:
    if spec.bin_size > 1:
        raise InvalidArgument(
            f"per_base labels every base; for bins of {spec.bin_size} use label='any' "
            f"(or another mode) with bin_size={spec.bin_size}"
        )


@label_mode("per_base", shape=_per_base_shape, check=_check_per_base, binned=True)
def _per_base(
    coverage: CoverageQueries, starts: np.ndarray, length: int, spec: DatasetSpec
) -> np.ndarray:
    """One label per base: whether an interval covers it, (C, inner_range) per window."""
    return coverage.covered_mask(starts, length)


# The modes of continuous and multi-class targets, and the binning every mode gets, live in
# ``label_targets`` (imported last: it registers with this module's registry).
from peaksql.core.label_targets import (  # noqa: E402
    check_label_options,
    evaluate_labels,
    label_bits,
    label_shape,
    positional_labels,
)

__all__ = [
    "LABEL_MODES",
    "CoverageQueries",
    "LabelMode",
    "SignalQueries",
    "check_label_options",
    "describe_label_modes",
    "evaluate_labels",
    "get_label_mode",
    "label_bits",
    "label_mode",
    "label_shape",
    "positional_labels",
]
