"""gRPC servicer: thin adapters from requests to the catalog and the dataset engine.

request -> DatasetSpec -> DatasetEngine.plan (constraint parsed once, PlanCache.get)
        -> iter_batches / build_batch -> Batch message
Domain errors propagate as exceptions; ``interceptors.ErrorInterceptor`` turns them into
statuses.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from peaksql.core.errors import InvalidArgument, ResourceExhausted
from peaksql.core.prefetch import read_ahead
from peaksql.core.spec import DatasetSpec
from peaksql.core.wire import pack_labels
from peaksql.server.catalog.queries import list_assemblies, list_conditions
from peaksql.server.engine.batches import BatchData, build_batch, iter_batches
from peaksql.server.engine.dataset_engine import DatasetEngine
from peaksql.server.engine.order import Cursor
from peaksql.server.engine.signal_columns import label_column_messages
from peaksql.v1 import peaksql_pb2 as pb
from peaksql.v1 import peaksql_pb2_grpc as pb_grpc


def batch_message(batch: BatchData, seq_length: int, include_coordinates: bool) -> pb.Batch:
    """Encode a built batch as its wire message (one bytes field per array)."""
    data, shape, dtype = pack_labels(batch.labels)
    message = pb.Batch(
        sequences=batch.sequences.tobytes(),
        batch_size=batch.batch_size,
        seq_length=seq_length,
        labels=pb.Tensor(data=data, shape=shape, dtype=dtype),
    )
    if include_coordinates:
        message.coordinates.window_index = batch.window_indices.astype("<i8").tobytes()
        message.coordinates.region_index = batch.regions.astype("<i8").tobytes()
        message.coordinates.start = batch.starts.astype("<i8").tobytes()
    if batch.cursor is not None:
        c = batch.cursor
        message.cursor.CopyFrom(
            pb.Cursor(epoch=c.epoch, rank=c.rank, world_size=c.world_size, delivered=c.delivered)
        )
    return message


#: Batches a stream builds ahead of the one gRPC is sending.
READ_AHEAD_BATCHES = 2
#: Below this many bytes a batch is cheaper to build than to hand between threads.
READ_AHEAD_MIN_BYTES = 64 << 10


def _spec(message: pb.DatasetSpec) -> DatasetSpec:
    if message.seq_length == 0:
        raise InvalidArgument("spec.seq_length must be positive")
    return DatasetSpec.from_proto(message)


class PeakSQLServicer(pb_grpc.PeakSQLServicer):
    """Adapters only: decode, call the engine, encode.

    ``engine`` is the ``DatasetEngine``; its ``database`` the catalog's SQLAlchemy engine.
    """

    def __init__(self, engine: DatasetEngine, read_ahead_batches: int = READ_AHEAD_BATCHES) -> None:
        self.engine = engine
        self.read_ahead_batches = read_ahead_batches

    def ListAssemblies(self, request, context):
        return pb.ListAssembliesResponse(
            assemblies=[
                pb.Assembly(
                    name=a.name,
                    species=a.species or "",
                    length=a.length,
                    chromosomes=[pb.Chromosome(name=n, length=n_len) for n, n_len in a.chromosomes],
                )
                for a in list_assemblies(self.engine.database)
            ]
        )

    def ListConditions(self, request, context):
        return pb.ListConditionsResponse(
            conditions=[
                pb.Condition(name=c.name, assembly=c.assembly, num_intervals=c.num_intervals)
                for c in list_conditions(self.engine.database)
            ]
        )

    def Describe(self, request, context):
        plan = self.engine.plan(_spec(request.spec))
        counts = plan.windows.per_region_counts(len(plan.region_names))
        positives = (
            np.zeros(len(plan.label_columns), dtype=np.int64)
            if request.skip_positives
            else self.engine.positives(plan)
        )
        region_sql = " AND ".join(t.sql() for t in plan.where.region_terms)
        interval_sql = " AND ".join(t.sql() for t in plan.where.interval_terms)
        return pb.DescribeResponse(
            num_windows=plan.num_windows,
            regions=[
                pb.Region(assembly=a, chromosome=c, length=int(n), num_windows=int(k))
                for (a, c), n, k in zip(plan.region_names, plan.region_lengths, counts, strict=True)
            ],
            label_columns=label_column_messages(plan, positives),
            region_constraint=region_sql,
            interval_constraint=interval_sql,
            label_shape=plan.label_shape,
            plan_key=plan.key,
        )

    def StreamBatches(self, request, context) -> Iterator[pb.Batch]:
        plan = self.engine.plan(_spec(request.spec))
        self.engine.check_batch(plan, request.batch_size)
        c = request.cursor
        cursor = Cursor(c.epoch, c.rank, c.world_size or 1, c.delivered)
        batches = iter_batches(
            plan,
            cursor,
            request.batch_size,
            shuffle=request.shuffle,
            seed=request.seed,
            equal_shares=request.equal_shares,
            max_batches=request.max_batches,
        )
        messages = (
            batch_message(batch, plan.spec.seq_length, request.include_coordinates)
            for batch in batches
        )
        batch_bytes = request.batch_size * ((plan.spec.seq_length + 1) // 2)
        depth = self.read_ahead_batches if batch_bytes >= READ_AHEAD_MIN_BYTES else 0
        with read_ahead(messages, depth) as ahead:
            for message in ahead:
                if not context.is_active():
                    return
                yield message

    def GetWindows(self, request, context):
        plan = self.engine.plan(_spec(request.spec))
        if len(request.indices) > self.engine.limits.max_get_windows:
            raise ResourceExhausted(
                f"{len(request.indices)} windows requested, over the limit of "
                f"{self.engine.limits.max_get_windows} (max_get_windows)"
            )
        self.engine.check_batch(plan, max(len(request.indices), 1))
        indices = np.array(request.indices, dtype=np.uint64)
        outside = np.flatnonzero(indices >= plan.num_windows)
        if outside.size:  # checked before the int64 cast, which would wrap huge indices
            raise InvalidArgument(
                f"window index {int(indices[outside[0]])} is out of range: the dataset has "
                f"{plan.num_windows} windows"
            )
        indices = indices.astype(np.int64)
        return batch_message(
            build_batch(plan, indices), plan.spec.seq_length, request.include_coordinates
        )
