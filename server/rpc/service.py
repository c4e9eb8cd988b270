"""gRPC servicer (grpc.aio): thin adapters from requests to the catalog and the dataset engine.

request -> validate.check -> DatasetSpec -> DatasetEngine.plan (constraint parsed once,
        PlanCache.get) -> iter_batches / build_batch -> Batch message
Nothing here blocks the event loop: catalog queries and plans run on the ``requests`` thread
pool, a stream's batches in chunks on the ``FairScheduler``'s pool (``streams``), the next
chunk built while one is written. Domain errors propagate as exceptions;
``interceptors.ErrorInterceptor`` turns them into statuses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from typing import Any

import numpy as np

from peaksql.core.errors import InvalidArgument, ResourceExhausted
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.queries import list_assemblies, list_conditions
from peaksql.server.engine.batches import build_batch, iter_batches
from peaksql.server.engine.dataset_engine import DatasetEngine
from peaksql.server.engine.epochs import EpochSummary, epoch_summary
from peaksql.server.engine.order import Cursor
from peaksql.server.engine.plan import Plan
from peaksql.server.engine.signal_columns import label_column_messages
from peaksql.server.rpc.messages import batch_bytes, batch_message
from peaksql.server.rpc.streams import FairScheduler, in_thread, serve_stream
from peaksql.server.rpc.validate import check
from peaksql.v1 import peaksql_pb2 as pb

#: Describe waits for positive counts at most this fraction of the call's remaining deadline...
POSITIVES_WAIT_FRACTION = 0.5
#: ... and at most this long (also without a deadline); then it answers positives_pending.
MAX_POSITIVES_WAIT_SECONDS = 30.0


def positives_wait(context: Any) -> float:
    """Seconds Describe may wait for positive counts, so it never outlives the deadline."""
    remaining = context.time_remaining()
    if remaining is None:
        return MAX_POSITIVES_WAIT_SECONDS
    return max(0.0, min(MAX_POSITIVES_WAIT_SECONDS, POSITIVES_WAIT_FRACTION * remaining))


def _spec(message: pb.DatasetSpec) -> DatasetSpec:
    return DatasetSpec.from_proto(message)


class PeakSQLServicer:
    """Adapters only: check, decode, call the engine (on a thread), encode.

    ``engine`` is the ``DatasetEngine``; ``requests`` the pool for catalog queries and plans;
    ``scheduler`` builds stream batches; ``identify(metadata, peer)`` names the caller whose
    share of the scheduler a stream uses; a stream whose client takes nothing for
    ``idle_seconds`` ends DEADLINE_EXCEEDED.
    """

    def __init__(
        self,
        engine: DatasetEngine,
        requests: Executor,
        scheduler: FairScheduler,
        identify: Callable[[Any, str], str],
        idle_seconds: float = 300.0,
    ) -> None:
        self.engine = engine
        self.requests = requests
        self.scheduler = scheduler
        self.identify = identify
        self.idle_seconds = idle_seconds
        self._open: dict[str, int] = {}

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await in_thread(self.requests, fn, *args)

    async def ListAssemblies(self, request: Any, context: Any) -> pb.ListAssembliesResponse:
        check(request)
        found = await self._run(list_assemblies, self.engine.database)
        return pb.ListAssembliesResponse(
            assemblies=[
                pb.Assembly(
                    name=a.name,
                    species=a.species or "",
                    length=a.length,
                    chromosomes=[pb.Chromosome(name=n, length=n_len) for n, n_len in a.chromosomes],
                )
                for a in found
            ]
        )

    async def ListConditions(self, request: Any, context: Any) -> pb.ListConditionsResponse:
        check(request)
        found = await self._run(list_conditions, self.engine.database)
        return pb.ListConditionsResponse(
            conditions=[
                pb.Condition(
                    name=c.name,
                    assembly=c.assembly,
                    num_intervals=c.num_intervals,
                    metadata=json.dumps(c.metadata, sort_keys=True) if c.metadata else "",
                    assemblies=c.assemblies,
                    num_runs=c.num_runs,
                    num_tracks=c.num_tracks,
                )
                for c in found
            ]
        )

    async def Describe(self, request: Any, context: Any) -> pb.DescribeResponse:
        plan = await self._run(self.engine.plan, _spec(check(request).spec))
        positives = None
        if not request.skip_positives:
            wait = positives_wait(context)
            positives = await self._run(self.engine.positives, plan, wait)
        pending = positives is None and not request.skip_positives
        if positives is None:
            positives = np.zeros(len(plan.label_columns), dtype=np.int64)
        epoch = await self._run(epoch_summary, plan, not request.skip_positives)
        return describe_response(plan, positives, epoch, pending)

    async def GetWindows(self, request: Any, context: Any) -> pb.Batch:
        plan = await self._run(self.engine.plan, _spec(check(request).spec))
        return await self._run(self._get_windows, plan, request)

    def _get_windows(self, plan: Plan, request: pb.GetWindowsRequest) -> pb.Batch:
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

    async def StreamBatches(self, request: Any, context: Any) -> None:
        plan = await self._run(self.engine.plan, _spec(check(request).spec))
        self.engine.check_batch(plan, request.batch_size)
        caller = self.identify(context.invocation_metadata(), context.peer())
        self._open[caller] = self._open.get(caller, 0) + 1
        try:
            messages = self._messages(plan, request)
            await serve_stream(self.scheduler, caller, messages, context, self.idle_seconds)
        finally:
            self._open[caller] -= 1
            if self._open[caller] == 0:
                del self._open[caller]
                self.scheduler.forget(caller)

    @staticmethod
    def _messages(plan: Plan, request: pb.StreamRequest) -> Iterator[bytes]:
        """The stream's messages, serialized (``messages.batch_bytes``)."""
        c = request.cursor
        cursor = Cursor(c.epoch, c.rank, c.world_size or 1, c.delivered, c.offset)
        batches = iter_batches(
            plan,
            cursor,
            request.batch_size,
            shuffle=request.shuffle,
            seed=request.seed,
            equal_shares=request.equal_shares,
            max_batches=request.max_batches,
            first_batch_size=request.first_batch_size,
        )
        return (
            batch_bytes(batch, plan.spec.seq_length, request.include_coordinates)
            for batch in batches
        )


def describe_response(
    plan: Plan, positives: np.ndarray, epoch: EpochSummary, pending: bool = False
) -> pb.DescribeResponse:
    """What a plan holds, as the Describe response (``pending``: positives still counting)."""
    counts = plan.windows.per_region_counts(len(plan.region_names))
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
        positives_pending=pending,
        epoch_windows=epoch.num_items,
        epoch_positives=epoch.positives,
        epoch_negatives=epoch.negatives,
        gc_max_difference=epoch.gc_difference,
    )
