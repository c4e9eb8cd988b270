"""``DatasetEngine``: plans (cached, under the server's limits) and batches over one catalog.

Each request's constraint is parsed and checked against the limits once, here
(``parse_constraint``), and the parsed ``Where`` travels on to the plan cache and compiler.

Memory: plans are budgeted by bytes (``Limits.plan_memory_budget``). A spec whose plan would
not fit is refused RESOURCE_EXHAUSTED before anything is allocated (``estimate_plan_bytes``:
listed windows cost 16 bytes each), a compiled plan over the budget is not kept, and the plan
cache evicts by bytes. If the catalog cannot be read for its generation, a plan already
cached at the last generation seen is served (the catalog cannot be changed through a
database nobody can reach); otherwise the database's error goes to the caller.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
import sqlalchemy as sa

from peaksql.core.errors import ConstraintError, InvalidArgument, ResourceExhausted
from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.condition_metadata import metadata_keys
from peaksql.server.catalog.genome_store import GenomeStore
from peaksql.server.catalog.interval_store import IntervalStore
from peaksql.server.config import Limits
from peaksql.server.engine.batches import positive_counts
from peaksql.server.engine.constraints import Where, parse_where
from peaksql.server.engine.plan import Plan, compile_plan
from peaksql.server.engine.plan_cache import PlanCache, catalog_version, nbytes

#: Parsed constraints kept (map-style datasets send one constraint with every GetWindows).
_PARSED_CONSTRAINTS = 256
#: Bytes a listed window costs in a plan: its region index and start, int64 each.
LISTED_WINDOW_BYTES = 16


def estimate_plan_bytes(spec: DatasetSpec) -> int:
    """A lower bound of a plan's bytes known before any SQL: its listed random windows
    (random windows are drawn on demand unless N-filtering or exclusion lists them)."""
    listed = spec.max_n_fraction is not None or bool(spec.exclude)
    return LISTED_WINDOW_BYTES * (spec.random or 0) if listed else 0


def parse_constraint(
    text: str, limits: Limits, metadata_keys: frozenset[str] = frozenset()
) -> Where:
    """``text`` parsed under ``limits``: the one parse and limit check of a request.
    ``metadata_keys``: the catalog's condition metadata keys, allowed as columns.

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
    return _parse_within(text, limits.max_in_list, metadata_keys)


@functools.lru_cache(maxsize=_PARSED_CONSTRAINTS)
def _parse_within(text: str, max_in_list: int, keys: frozenset[str]) -> Where:
    try:
        return parse_where(
            text, max_length=sys.maxsize, max_in_list=max_in_list, metadata_keys=keys
        )
    except ConstraintError:
        if not _valid_without_in_limit(text, keys):
            raise
    raise ResourceExhausted(
        f"an IN list of the constraint has more than {max_in_list} items, over the limit "
        "(max_in_list): select by a column with fewer values, or ask for the limit to be raised"
    )


def _valid_without_in_limit(text: str, keys: frozenset[str]) -> bool:
    try:
        parse_where(text, max_length=sys.maxsize, max_in_list=sys.maxsize, metadata_keys=keys)
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
        self.plans = PlanCache(self._compile, limits.max_plans, limits.plan_memory_budget)
        self._positives_lock = threading.Lock()
        self._counting = threading.Semaphore(1)  # one background count at a time
        self._keys: tuple[int, frozenset[str]] | None = None  # (generation, metadata keys)
        self._version: int | None = None  # the last catalog generation read

    def plan(self, spec: DatasetSpec) -> Plan:
        """The plan of ``spec`` at the catalog's current generation (compiled on a miss).

        With the catalog database down, a plan made before is still served.
        """
        self._check_budget(estimate_plan_bytes(spec), "would take at least")
        try:
            self._version = catalog_version(self.database)
            keys = self._metadata_keys(self._version)
        except sa.exc.SQLAlchemyError:
            if self._version is None or self._keys is None:
                raise
            where = parse_constraint(spec.where, self.limits, self._keys[1])
            cached = self.plans.peek(spec, self._version, where)
            if cached is None:
                raise
            return cached  # the database is down: serve what was planned before
        where = parse_constraint(spec.where, self.limits, keys)
        return self.plans.get(spec, self._version, where)

    def _metadata_keys(self, version: int) -> frozenset[str]:
        """The catalog's metadata keys (the allow-list of metadata columns), read once per
        catalog generation."""
        known = self._keys
        if known is None or known[0] != version:
            with self.database.connect() as connection:
                known = (version, metadata_keys(connection))
            self._keys = known
        return known[1]

    def _check_budget(self, num_bytes: int, verb: str) -> None:
        budget = self.limits.plan_memory_budget
        if num_bytes > budget:
            raise ResourceExhausted(
                f"the dataset's plan {verb} {num_bytes:,} bytes, over the server's plan memory "
                f"budget of {budget:,} bytes (plan_memory_budget): ask for fewer windows"
            )

    def _compile(self, spec: DatasetSpec, where: Where) -> Plan:
        plan = compile_plan(self.database, self.store, spec, where, self.intervals)
        self._check_budget(nbytes(plan), "takes")
        if self.on_compile is not None:
            self.on_compile(plan)
        return plan

    def positives(self, plan: Plan, timeout: float | None = None) -> np.ndarray | None:
        """Positive windows per label column, or None if not counted within ``timeout`` s.

        Counted once per plan in a background thread (one count at a time), so a caller
        with a deadline waits at most ``timeout`` and a later call gets the counts; None:
        wait until done.
        """
        with self._positives_lock:
            if plan._positives is None:
                plan._positives = Future()
                threading.Thread(
                    target=self._count, args=(plan, plan._positives), daemon=True
                ).start()
            future = plan._positives
        try:
            return future.result(timeout)
        except FutureTimeout:
            return None

    def _count(self, plan: Plan, future: Future) -> None:
        with self._counting:
            try:
                future.set_result(positive_counts(plan))
            except BaseException as error:  # handed to every waiter
                future.set_exception(error)

    def check_batch(self, plan: Plan, batch_size: int) -> None:
        """Refuse batches whose message would pass the byte limit, before building any."""
        if batch_size <= 0:
            raise InvalidArgument(f"batch_size must be positive, got {batch_size}")
        if batch_size > self.limits.max_batch_size:
            raise ResourceExhausted(
                f"batch_size {batch_size} is over the limit of {self.limits.max_batch_size} "
                "(max_batch_size)"
            )
        label_bits = plan.label_bits
        num_bytes = batch_size * ((plan.spec.seq_length + 1) // 2 + (label_bits + 7) // 8)
        if num_bytes > self.limits.max_batch_bytes:
            raise ResourceExhausted(
                f"a batch of {batch_size} windows of {plan.spec.seq_length} bp takes "
                f"{num_bytes:,} bytes, over the limit of {self.limits.max_batch_bytes:,} "
                "(max_batch_bytes): use a smaller batch_size"
            )
