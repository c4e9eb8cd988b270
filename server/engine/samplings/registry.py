"""The registry of samplings: one window-building function per field of ``oneof sampling``.

A sampling is a function ``(spec, source, rng) -> WindowSet`` registered under its proto
name by ``@sampling("name")``; its parameters are ``spec.sampling_kwargs`` (checked against
the proto by ``peaksql.core.spec`` before it runs). ``build_windows`` picks it by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from peaksql.core.errors import InvalidArgument
from peaksql.core.spec import SAMPLINGS, DatasetSpec
from peaksql.server.engine.windows import WindowSet


@dataclass(frozen=True)
class Source:
    """What windows may be placed on: the plan's regions and the intervals that match."""

    lengths: np.ndarray  # int64 (R,): length of each region
    regions: np.ndarray  # int64 (n,): region of each matching interval
    starts: np.ndarray  # int64 (n,): interval start on its region
    ends: np.ndarray  # int64 (n,): interval end on its region
    centres: np.ndarray  # int64 (n,): summit, or midpoint without one
    #: ``exclusion.Exclusion`` or None: where a window may not be drawn (``allowed``)
    exclusion: Any = None


SamplingFunction = Callable[[DatasetSpec, Source, np.random.Generator], WindowSet]

#: sampling name -> the function that builds its windows.
SAMPLING_FUNCTIONS: dict[str, SamplingFunction] = {}


def sampling(name: str) -> Callable[[SamplingFunction], SamplingFunction]:
    """Register the decorated function as the windows of sampling ``name`` (a proto name)."""

    def register(function: SamplingFunction) -> SamplingFunction:
        if name not in SAMPLINGS:
            raise ValueError(
                f"sampling {name!r} is not a field of the proto's oneof sampling "
                f"({', '.join(SAMPLINGS)}): add it to protos/peaksql/v1/peaksql.proto"
            )
        if name in SAMPLING_FUNCTIONS:
            raise ValueError(f"sampling {name!r} is registered twice")
        SAMPLING_FUNCTIONS[name] = function
        return function

    return register


def build_windows(spec: DatasetSpec, source: Source, rng: np.random.Generator) -> WindowSet:
    """The windows of ``spec`` under its sampling."""
    function = SAMPLING_FUNCTIONS.get(spec.sampling)
    if function is None:
        raise InvalidArgument(
            f"unknown sampling {spec.sampling!r}; choose one of {', '.join(SAMPLING_FUNCTIONS)}"
        )
    return function(spec, source, rng)
