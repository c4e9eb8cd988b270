"""Interval conditions served as signal read their values from the interval store's parts
(bedGraph ``value``; narrowPeak ``signal_value``), not from SQL rows."""

from __future__ import annotations

import numpy as np

from peaksql.core.spec import DatasetSpec
from peaksql.server.ingest.example import EXAMPLE_ASSEMBLY, example_dir
from peaksql.server.ingest.intervals import add_data_files
from tests.test_signals import _batch, _painted, catalog  # noqa: F401


def test_bedgraph_intervals_serve_their_values_as_signal(catalog) -> None:  # noqa: F811
    _, folder, engine = catalog
    path = example_dir() / "repeat_frac_100kb.bedGraph"
    add_data_files(
        engine, [path], EXAMPLE_ASSEMBLY, "repeat_rows", "bedgraph", progress=False,
        data_dir=folder,
    )  # fmt: skip
    spec = DatasetSpec(
        seq_length=100_000, label="signal", aggregate="max", conditions=("repeat_rows", "gc"),
        missing="mask",
    )  # fmt: skip
    plan, batch = _batch(catalog, spec, np.arange(0, 20))
    per_base = _painted("repeat_frac_100kb.bedGraph")
    np.testing.assert_allclose(batch.labels[:, 0], per_base[::100_000][:20], rtol=1e-6)
    assert plan.column_presence.all()  # both columns known on the example assembly
    assert plan.column_assemblies() == [[EXAMPLE_ASSEMBLY], [EXAMPLE_ASSEMBLY]]
