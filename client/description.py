"""What a dataset spec resolves to on the server: ``Client.describe``'s answer."""

from __future__ import annotations

from dataclasses import dataclass

from peaksql.v1 import peaksql_pb2 as pb


@dataclass(frozen=True)
class RegionInfo:
    assembly: str
    chromosome: str
    length: int
    num_windows: int


@dataclass(frozen=True)
class Description:
    """What a dataset spec resolves to on the server."""

    num_windows: int
    regions: tuple[RegionInfo, ...]
    label_columns: tuple[str, ...]
    num_positive: tuple[int, ...]
    label_shape: tuple[int, ...]
    region_constraint: str
    interval_constraint: str
    #: Per label column, the dataset's assemblies on which it has intervals (elsewhere its
    #: labels are 0, or NaN with ``missing="mask"``).
    column_assemblies: tuple[tuple[str, ...], ...] = ()
    #: The server was still counting positives (``num_positive`` all 0): ask again later.
    positives_pending: bool = False
    #: Items of one epoch (negatives_per_positive, reverse_complement "both"); positives and
    #: negatives among them; under gc_matched the achieved GC histogram difference.
    epoch_windows: int = 0
    epoch_positives: int = 0
    epoch_negatives: int = 0
    gc_max_difference: float | None = None
    #: Per label column: (min, max, mean over bases with data) of a signal column, else None.
    signal_stats: tuple[tuple[float, float, float] | None, ...] = ()
    #: Per label column: the column of its other strand (a stranded pair), else its own.
    strand_partner: tuple[int, ...] = ()


def description_of(r: pb.DescribeResponse) -> Description:
    """The ``Description`` of a Describe response."""
    return Description(
        num_windows=r.num_windows,
        regions=tuple(
            RegionInfo(g.assembly, g.chromosome, g.length, g.num_windows) for g in r.regions
        ),
        label_columns=tuple(c.name for c in r.label_columns),
        num_positive=tuple(c.num_positive for c in r.label_columns),
        label_shape=tuple(r.label_shape),
        region_constraint=r.region_constraint,
        interval_constraint=r.interval_constraint,
        column_assemblies=tuple(tuple(c.assemblies) for c in r.label_columns),
        positives_pending=r.positives_pending,
        epoch_windows=r.epoch_windows,
        epoch_positives=r.epoch_positives,
        epoch_negatives=r.epoch_negatives,
        gc_max_difference=(r.gc_max_difference if r.HasField("gc_max_difference") else None),
        signal_stats=tuple(
            (c.signal_min, c.signal_max, c.signal_mean) if c.HasField("signal_min") else None
            for c in r.label_columns
        ),
        strand_partner=tuple(c.strand_partner for c in r.label_columns),
    )
