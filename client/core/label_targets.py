"""Continuous and multi-class targets, and bins for every label mode.

Registers two modes with ``label_modes``' registry and holds what every mode shares:

* ``signal``: ``aggregate`` (mean, sum, max, min, coverage) of each signal column's values
  per bin (``SignalQueries.signal``), then the optional transform: per-column ``scale``,
  then ``clip_min``/``clip_max``, then ``transform`` (log1p or sqrt). Bases without data
  count by ``signal_gaps``: ``zero`` (as 0: mean = sum / bin length), ``nan`` (as NaN: a
  bin with any gap is NaN, for every aggregate but coverage), ``skip`` (left out: the mean
  of the bases with data, NaN where a bin has none; pyBigWig's ``stats``).
* ``class``: one class per window (or bin): the column with the largest covered fraction
  among those with at least ``fraction`` covered; ties go to the lowest column index; when
  no column passes, the background class ``C`` (the number of columns). int32 indices, or
  with ``one_hot_classes`` a bool one-hot over ``C + 1`` classes (background last).
* Bins (``bin_size``, dividing the labelled range): a mode that does not bin itself is
  evaluated over ``B x bins`` sub-windows of ``bin_size`` bases (one vectorised call) and
  its labels get a last axis of bins: (B, C) -> (B, C, bins), (B,) -> (B, bins). The last
  axis is always position along the window (what reverse-complement augmentation reverses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from peaksql.core.errors import InvalidArgument
from peaksql.core.label_modes import CoverageQueries, get_label_mode, label_mode

if TYPE_CHECKING:
    from peaksql.core.spec import DatasetSpec

AGGREGATES: tuple[str, ...] = ("mean", "sum", "max", "min", "coverage")
SIGNAL_GAPS: tuple[str, ...] = ("zero", "nan", "skip")
TRANSFORMS: tuple[str, ...] = ("", "log1p", "sqrt")
LABEL_WIRE_DTYPES: tuple[str, ...] = ("float32", "float16")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise InvalidArgument(f"{name} must be one of {shown}, got {value!r}")


def check_label_options(spec: DatasetSpec) -> None:
    """The label options every mode shares: bins divide the labelled range; choices known."""
    _choice("aggregate", spec.aggregate, AGGREGATES)
    _choice("signal_gaps", spec.signal_gaps, SIGNAL_GAPS)
    _choice("transform", spec.transform, TRANSFORMS)
    _choice("label_wire_dtype", spec.label_wire_dtype, LABEL_WIRE_DTYPES)
    labelled = spec.inner_range or spec.seq_length
    if spec.bin_size and labelled % spec.bin_size:
        raise InvalidArgument(
            f"bin_size {spec.bin_size} must divide the labelled range ({labelled} bases: "
            "inner_range, or seq_length without one)"
        )
    if spec.clip_min is not None and spec.clip_max is not None and spec.clip_min > spec.clip_max:
        raise InvalidArgument(f"clip_min {spec.clip_min} is above clip_max {spec.clip_max}")


def num_bins(spec: DatasetSpec, length: int) -> int:
    """Bins of the labelled range (0: labels per window)."""
    return length // spec.bin_size if spec.bin_size else 0


def label_shape(spec: DatasetSpec, num_columns: int, inner_length: int) -> tuple[int, ...]:
    """The shape of one window's labels: the mode's shape, then bins (per_base: per base)."""
    mode = get_label_mode(spec.label)
    shape = mode.shape(num_columns, inner_length)
    if spec.label == "class":
        shape = (num_columns + 1,) if spec.one_hot_classes else ()
    if spec.bin_size and spec.label != "per_base":
        shape = (*shape, inner_length // spec.bin_size)
    return shape


def positional_labels(spec: DatasetSpec) -> bool:
    """Whether labels have a last axis of positions along the window (bins, or per base):
    the axis reverse-complement augmentation reverses."""
    return bool(spec.bin_size) or spec.label == "per_base"


def label_bits(spec: DatasetSpec) -> int:
    """Bits one label takes on the wire: signal 32 (16 under ``label_wire_dtype="float16"``),
    class indices 32 (int32), ``missing="mask"`` 32 (float32), else 1 (bit-packed bool)."""
    if spec.label == "signal":
        return 16 if spec.label_wire_dtype == "float16" else 32
    if spec.label == "class":
        return 1 if spec.one_hot_classes else 32
    return 32 if spec.missing == "mask" else 1


def evaluate_labels(
    coverage: CoverageQueries, starts: np.ndarray, length: int, spec: DatasetSpec
) -> np.ndarray:
    """Labels of windows ``[w, w + length)`` under the spec's mode, binned by ``bin_size``."""
    mode = get_label_mode(spec.label)
    bins = num_bins(spec, length)
    if mode.binned or not bins:
        return mode.labels(coverage, starts, length, spec)
    sub_starts = (starts[:, None] + np.arange(bins, dtype=np.int64) * spec.bin_size).reshape(-1)
    flat = mode.labels(coverage, sub_starts, spec.bin_size, spec)
    per_window = flat.reshape(starts.shape[0], bins, *flat.shape[1:])
    return np.ascontiguousarray(np.moveaxis(per_window, 1, -1))


def _check_signal(spec: DatasetSpec) -> None:
    if any(not np.isfinite(s) for s in spec.scale):
        raise InvalidArgument(f"scale must be finite numbers, got {spec.scale}")


def transform_values(values: np.ndarray, spec: DatasetSpec) -> np.ndarray:
    """Scale per column (axis 1), clip, then log1p or sqrt; float32, in place where it can."""
    if spec.scale:
        num_columns = values.shape[1]
        if len(spec.scale) not in (1, num_columns):
            raise InvalidArgument(
                f"scale has {len(spec.scale)} values; give one, or one per label column "
                f"({num_columns})"
            )
        factors = np.asarray(spec.scale, dtype=np.float32)
        values *= factors.reshape((1, -1) + (1,) * (values.ndim - 2))
    if spec.clip_min is not None or spec.clip_max is not None:
        np.clip(values, spec.clip_min, spec.clip_max, out=values)
    if spec.transform == "log1p":
        np.log1p(values, out=values)
    elif spec.transform == "sqrt":
        with np.errstate(invalid="ignore"):
            np.sqrt(values, out=values)
    return values


@label_mode("signal", check=_check_signal, binned=True, dtype="float32")
def _signal(coverage: CoverageQueries, starts: np.ndarray, length: int, spec: DatasetSpec):
    """The ``aggregate`` of each signal column's values, per window or bin (float32)."""
    bin_size = spec.bin_size or length
    signal = getattr(coverage, "signal", None)
    if signal is None:
        raise InvalidArgument("label='signal' needs signal columns (bigWig/bedGraph tracks)")
    values = signal(starts, length, bin_size, spec.aggregate, spec.signal_gaps)
    values = transform_values(values, spec)
    return values if spec.bin_size else values[:, :, 0]


def _check_class(spec: DatasetSpec) -> None:
    if not 0 < spec.fraction <= 1:
        raise InvalidArgument(f"fraction must be in (0, 1], got {spec.fraction}")
    if spec.missing == "mask":
        raise InvalidArgument(
            "missing='mask' does not apply to label='class' (a class is chosen over every "
            "column); use missing='zero', or label='fraction' to mask per column"
        )


def classes_of(fractions: np.ndarray, fraction: float) -> np.ndarray:
    """(B, C) covered fractions -> (B,) int32 classes: the argmax among columns passing
    ``fraction`` (lowest index on ties), ``C`` when none passes."""
    passing = fractions >= fraction
    best = np.argmax(np.where(passing, fractions, -1.0), axis=1)
    return np.where(passing.any(axis=1), best, fractions.shape[1]).astype(np.int32)


@label_mode("class", check=_check_class, dtype="int32")
def _class(coverage: CoverageQueries, starts: np.ndarray, length: int, spec: DatasetSpec):
    """One class per window: the most covered column passing ``fraction``, else C (int32;
    bool one-hot with ``one_hot_classes``)."""
    fractions = coverage.covered(starts, length) / length
    classes = classes_of(fractions, spec.fraction)
    if spec.one_hot_classes:
        return np.eye(fractions.shape[1] + 1, dtype=np.bool_)[classes]
    return classes
