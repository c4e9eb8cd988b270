"""``DatasetEngine``: plans (cached, under the server's limits) and batches over one catalog."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import sqlalchemy as sa

from peaksql.core.errors import InvalidArgument, ResourceExhausted
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.config import Limits
from peaksql.server.engine.batches import positive_counts
from peaksql.server.engine.constraints import Where, parse_where
from peaksql.server.engine.plan import Plan, compile_plan
from peaksql.server.engine.plan_cache import PlanCache, catalog_version


class DatasetEngine:
    """Plans and batches over one catalog; shared by every servicer thread."""

    def __init__(
        self,
        engine: sa.Engine,
        store: GenomeStore,
        limits: Limits,
        on_compile: Callable[[Plan], None] | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.limits = limits
        self.on_compile = on_compile
        self.plans = PlanCache(self._compile, limits.max_plans)
        self._positives_lock = threading.Lock()

    def plan(self, spec: DatasetSpec) -> Plan:
        if len(spec.where) > self.limits.max_constraint_length:
            raise ResourceExhausted(
                f"constraint is {len(spec.where)} characters, over the limit of "
                f"{self.limits.max_constraint_length} (max_constraint_length)"
            )
        where = parse_where(
            spec.where,
            max_length=self.limits.max_constraint_length,
            max_in_list=self.limits.max_in_list,
        )
        return self.plans.get(spec, catalog_version(self.engine), where)

    def _compile(self, spec: DatasetSpec, where: Where) -> Plan:
        plan = compile_plan(self.engine, self.store, spec, where)
        if self.on_compile is not None:
            self.on_compile(plan)
        return plan

    def positives(self, plan: Plan) -> np.ndarray:
        with self._positives_lock:
            if plan._positives is None:
                plan._positives = positive_counts(plan)
            return plan._positives

    def check_batch(self, plan: Plan, batch_size: int) -> None:
        """Refuse batches whose message would pass the byte limit, before building any."""
        if batch_size <= 0:
            raise InvalidArgument(f"batch_size must be positive, got {batch_size}")
        if batch_size > self.limits.max_batch_size:
            raise ResourceExhausted(
                f"batch_size {batch_size} is over the limit of {self.limits.max_batch_size} "
                "(max_batch_size)"
            )
        label_bits = int(np.prod(plan.label_shape, dtype=np.int64))
        num_bytes = batch_size * ((plan.spec.seq_length + 1) // 2 + (label_bits + 7) // 8)
        if num_bytes > self.limits.max_batch_bytes:
            raise ResourceExhausted(
                f"a batch of {batch_size} windows of {plan.spec.seq_length} bp takes "
                f"{num_bytes:,} bytes, over the limit of {self.limits.max_batch_bytes:,} "
                "(max_batch_bytes): use a smaller batch_size"
            )
