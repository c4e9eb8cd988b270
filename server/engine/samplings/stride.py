"""``stride``: windows at 0, stride, 2·stride, … on each region (virtual, no list)."""

from __future__ import annotations

import numpy as np

from peaksql.core.spec import DatasetSpec
from peaksql.server.engine.samplings.registry import Source, sampling
from peaksql.server.engine.windows import StrideWindows


@sampling("stride")
def stride_windows(spec: DatasetSpec, source: Source, rng: np.random.Generator) -> StrideWindows:
    """Every ``stride`` bases while the window fits on its region."""
    return StrideWindows(source.lengths, spec.seq_length, spec.sampling_kwargs["stride"])
