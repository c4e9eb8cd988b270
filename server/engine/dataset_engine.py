"""``DatasetEngine``: plans (cached, under the server's limits) and batches over one catalog.

Each request's constraint is parsed and checked against the limits once, here
(``parse_constraint``), and the parsed ``Where`` travels on to the plan cache and compiler.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable

import numpy as np
import sqlalchemy as sa

from peaksql.core.errors import ConstraintError, InvalidArgument, ResourceExhausted
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.interval_store import IntervalStore
from peaksql.server.config import Limits
from peaksql.server.engine.batches import positive_counts
from peaksql.server.engine.constraints import Where, parse_where
from peaksql.server.engine.plan import Plan, compile_plan
from peaksql.server.engine.plan_cache import PlanCache, catalog_version

#: Parsed constraints kept (map-style datasets send one constraint with every GetWindows).
_PARSED_CONSTRAINTS = 256


def parse_constraint(text: str, limits: Limits) -> Where:
    """``text`` parsed under ``limits``: the one parse and limit check of a request.

    RESOURCE_EXHAUSTED, naming the limit, for a constraint over ``max_constraint_length`` or
    one that is valid but for an IN list over ``max_in_list``; a constraint invalid whatever
    the limits raises the parser's ConstraintError (INVALID_ARGUMENT), so the caller hears
    what is wrong with it.
    """
    if len(text) > limits.max_constraint_length:
        raise ResourceExhausted(
            f"constraint is {len(text)} characters, over the limit of "
            f"{limits.max_constraint_length} (max_constraint_length)"
        )
    return _parse_within(text, limits.max_in_list)


@functools.lru_cache(maxsize=_PARSED_CONSTRAINTS)
def _parse_within(text: str, max_in_list: int) -> Where:
    try:
        return parse_where(text, max_length=sys.maxsize, max_in_list=max_in_list)
    except ConstraintError:
        if not _valid_without_in_limit(text):
            raise
    raise ResourceExhausted(
        f"an IN list of the constraint has more than {max_in_list} items, over the limit "
        "(max_in_list): select by a column with fewer values, or ask for the limit to be raised"
    )


def _valid_without_in_limit(text: str) -> bool:
    try:
        parse_where(text, max_length=sys.maxsize, max_in_list=sys.maxsize)
    except ConstraintError:
        return False
    return True


class DatasetEngine:
    """Plans and batches over one catalog; shared by every servicer thread.

    ``database`` is the catalog's SQLAlchemy engine (read-only sessions when serving).
    """

    def __init__(
        self,
        database: sa.Engine,
        store: GenomeStore,
        limits: Limits,
        on_compile: Callable[[Plan], None] | None = None,
    ) -> None:
        self.database = database
        self.store = store
        self.intervals = IntervalStore(store.data_dir)
        self.limits = limits
        self.on_compile = on_compile
        self.plans = PlanCache(self._compile, limits.max_plans)
        self._positives_lock = threading.Lock()

    def plan(self, spec: DatasetSpec) -> Plan:
        """The plan of ``spec`` at the catalog's current generation (compiled on a miss)."""
        where = parse_constraint(spec.where, self.limits)
        return self.plans.get(spec, catalog_version(self.database), where)

    def _compile(self, spec: DatasetSpec, where: Where) -> Plan:
        plan = compile_plan(self.database, self.store, spec, where, self.intervals)
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
