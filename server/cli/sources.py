"""Where ``peaksql describe`` gets a dataset from: a server (the client) or a local catalog
(the engine in process). Both answer the same two questions, so everything after them, the
text, the JSON and the plot, is one code path:

- ``describe(spec)``: the ``peaksql.client.Description`` (windows, regions, label columns
  with positive counts), exactly what the Describe call returns;
- ``windows(spec, indices)``: region index, start and labels of those windows, as
  GetWindows with ``include_coordinates`` returns them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from peaksql.client import Description, RegionInfo
from peaksql.core.spec import DatasetSpec

if TYPE_CHECKING:
    import sqlalchemy as sa

    from peaksql import Client

#: Most bytes of window sequences one GetWindows message may carry here (the server's
#: default limit is 64 MiB: this stays far below it and below any reasonable setting).
MESSAGE_BYTES = 4 << 20


class Windows(Protocol):
    """What ``describe`` needs of a dataset's source."""

    def describe(self, spec: DatasetSpec, count_positives: bool = True) -> Description: ...

    def windows(
        self, spec: DatasetSpec, indices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def close(self) -> None: ...


def chunk_size(seq_length: int, label_bits: int = 0) -> int:
    """Windows per GetWindows call: at most :data:`MESSAGE_BYTES` of sequences and labels
    (``label_bits`` a window), 1 to 8192."""
    per_window = (seq_length + 1) // 2 + (label_bits + 7) // 8
    return int(min(8192, max(1, MESSAGE_BYTES // per_window)))


class RemoteSource:
    """A server, through ``peaksql.Client`` (its token and TLS settings included)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._label_bits: dict[DatasetSpec, int] = {}

    def describe(self, spec: DatasetSpec, count_positives: bool = True) -> Description:
        found = self.client.describe(spec, count_positives=count_positives)
        self._label_bits[spec] = int(np.prod(found.label_shape, dtype=np.int64))
        return found

    def windows(
        self, spec: DatasetSpec, indices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from peaksql.core.wire import unpack_labels

        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if spec not in self._label_bits:
            self.describe(spec, count_positives=False)
        step = chunk_size(spec.seq_length, self._label_bits[spec])
        for begin in range(0, len(indices), step):
            batch = self.client.get_windows(spec, indices[begin : begin + step], True)
            c = batch.coordinates
            labels = unpack_labels(batch.labels.data, tuple(batch.labels.shape), batch.labels.dtype)
            regions = np.frombuffer(c.region_index, dtype="<i8").astype(np.int64)
            starts = np.frombuffer(c.start, dtype="<i8").astype(np.int64)
            parts.append((regions, starts, labels))
        return _joined(parts, spec)

    def close(self) -> None:
        self.client.close()


class LocalSource:
    """A catalog opened in process, through the server's ``DatasetEngine`` (default limits)."""

    def __init__(self, database: sa.Engine, data_dir: Path) -> None:
        from peaksql.server.catalog.genome_store import GenomeStore
        from peaksql.server.config import Limits
        from peaksql.server.engine.dataset_engine import DatasetEngine

        self.engine = DatasetEngine(database, GenomeStore(data_dir), Limits())

    def describe(self, spec: DatasetSpec, count_positives: bool = True) -> Description:
        """What the Describe call answers for ``spec`` (see ``peaksql.server.rpc.service``)."""
        plan = self.engine.plan(spec)
        counts = plan.windows.per_region_counts(len(plan.region_names))
        if count_positives:
            counted = self.engine.positives(plan)  # no timeout: None only past a timeout
            assert counted is not None
            positives = counted
        else:
            positives = np.zeros(len(plan.label_columns), dtype=np.int64)
        regions = zip(plan.region_names, plan.region_lengths, counts, strict=True)
        return Description(
            num_windows=plan.num_windows,
            regions=tuple(RegionInfo(a, c, int(n), int(k)) for (a, c), n, k in regions),
            label_columns=tuple(plan.label_columns),
            num_positive=tuple(int(p) for p in positives),
            label_shape=tuple(int(n) for n in plan.label_shape),
            region_constraint=" AND ".join(t.sql() for t in plan.where.region_terms),
            interval_constraint=" AND ".join(t.sql() for t in plan.where.interval_terms),
        )

    def windows(
        self, spec: DatasetSpec, indices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from peaksql.server.engine.batches import label_windows

        plan = self.engine.plan(spec)
        regions, starts = plan.windows.locate(np.asarray(indices, dtype=np.int64))
        return regions, starts, label_windows(plan, regions, starts)

    def close(self) -> None:
        self.engine.database.dispose()


def _joined(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], spec: DatasetSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros((0, 0), dtype=bool)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]
