"""Dataset specs: what a client asks for, as a plain dataclass and as its protobuf message.

A spec is deterministic: the same spec gives the same windows and labels on any server.
The order of an epoch (shuffle, seed, epoch, rank) is not part of the spec: it belongs to
the stream, so that every order of one dataset shares one server-side plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peaksql.core.errors import InvalidArgument
from peaksql.v1 import peaksql_pb2 as pb

SAMPLINGS = ("stride", "random", "around_intervals")
LABEL_MODES = ("any", "all", "fraction", "summit", "per_base")


@dataclass(frozen=True)
class DatasetSpec:
    """Windows of ``seq_length`` bases over the regions ``where`` selects, labelled per condition.

    Sampling is exactly one of: ``stride`` (tile each chromosome), ``random`` (that many
    uniformly drawn windows, from ``seed``) or ``around_intervals`` (one window centred on each
    matching interval's summit or midpoint, shifted by up to ``max_jitter`` bases).
    """

    seq_length: int
    where: str = ""
    stride: int | None = None
    random: int | None = None
    around_intervals: bool = False
    max_jitter: int = 0
    label: str = "any"
    fraction: float = 0.5
    inner_range: int = 0
    conditions: tuple[str, ...] = field(default_factory=tuple)
    max_n_fraction: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "conditions", tuple(self.conditions))
        chosen = [
            name
            for name, on in (
                ("stride", self.stride is not None),
                ("random", self.random is not None),
                ("around_intervals", self.around_intervals),
            )
            if on
        ]
        if len(chosen) > 1:
            raise InvalidArgument(f"choose one sampling, not {' and '.join(chosen)}")
        if not chosen:
            object.__setattr__(self, "stride", self.seq_length)
        if self.seq_length <= 0:
            raise InvalidArgument(f"seq_length must be positive, got {self.seq_length}")
        if self.stride is not None and self.stride <= 0:
            raise InvalidArgument(f"stride must be positive, got {self.stride}")
        if self.random is not None and self.random <= 0:
            raise InvalidArgument(f"random must be a positive number of windows, got {self.random}")
        if not 0 <= self.inner_range <= self.seq_length:
            raise InvalidArgument(
                f"inner_range must be between 0 and seq_length ({self.seq_length}), "
                f"got {self.inner_range}"
            )
        if self.label == "fraction" and not 0 < self.fraction <= 1:
            raise InvalidArgument(f"fraction must be in (0, 1], got {self.fraction}")
        if self.label not in LABEL_MODES:
            raise InvalidArgument(
                f"unknown label mode {self.label!r}; choose one of {', '.join(LABEL_MODES)}"
            )

    @property
    def sampling(self) -> str:
        if self.random is not None:
            return "random"
        if self.around_intervals:
            return "around_intervals"
        return "stride"

    def to_proto(self) -> pb.DatasetSpec:
        message = pb.DatasetSpec(
            where=self.where,
            seq_length=self.seq_length,
            label=pb.LabelSpec(
                mode=self.label, fraction=self.fraction, inner_range=self.inner_range
            ),
            conditions=list(self.conditions),
            seed=self.seed,
        )
        if self.max_n_fraction is not None:
            message.max_n_fraction = self.max_n_fraction
        if self.sampling == "random":
            message.random.num_windows = int(self.random or 0)
        elif self.sampling == "around_intervals":
            message.around_intervals.max_jitter = self.max_jitter
        else:
            message.stride.stride = int(self.stride or 0)
        return message

    @classmethod
    def from_proto(cls, message: pb.DatasetSpec) -> DatasetSpec:
        sampling = message.WhichOneof("sampling")
        return cls(
            seq_length=message.seq_length,
            where=message.where,
            stride=message.stride.stride if sampling == "stride" else None,
            random=message.random.num_windows if sampling == "random" else None,
            around_intervals=sampling == "around_intervals",
            max_jitter=message.around_intervals.max_jitter,
            label=message.label.mode or "any",
            fraction=message.label.fraction if message.HasField("label") else 0.5,
            inner_range=message.label.inner_range,
            conditions=tuple(message.conditions),
            max_n_fraction=(message.max_n_fraction if message.HasField("max_n_fraction") else None),
            seed=message.seed,
        )
