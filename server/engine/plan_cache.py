"""The plan cache: one compile per (spec, catalog version), bounded, shared by all streams."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import sqlalchemy as sa

from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.schema import assemblies, conditions, intervals
from peaksql.server.engine.constraints import Where, parse_where
from peaksql.server.engine.plan import Plan, spec_key


class PlanCache:
    """A bounded LRU of plans keyed by spec and catalog version; one compile per key."""

    def __init__(
        self, compile_fn: Callable[[DatasetSpec, Where], Plan], max_plans: int = 16
    ) -> None:
        self._compile = compile_fn
        self._max_plans = max_plans
        self._plans: OrderedDict[tuple[str, object], Plan] = OrderedDict()
        self._building: dict[tuple[str, object], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, spec: DatasetSpec, version: object = None, where: Where | None = None) -> Plan:
        """The plan of ``spec`` (``where``: its constraint already parsed, if it is)."""
        if where is None:
            where = parse_where(spec.where)
        key = (spec_key(spec, where), version)
        with self._lock:
            if key in self._plans:
                self._plans.move_to_end(key)
                return self._plans[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                if key in self._plans:
                    return self._plans[key]
            try:
                plan = self._compile(spec, where)
            finally:  # a spec that fails to compile must not leave its lock behind
                with self._lock:
                    self._building.pop(key, None)
            with self._lock:
                self._plans[key] = plan
                while len(self._plans) > self._max_plans:
                    self._plans.popitem(last=False)
            return plan

    def __len__(self) -> int:
        return len(self._plans)


def catalog_version(engine: sa.Engine) -> tuple:
    """A cheap fingerprint of the catalog: changes whenever data is added or removed.

    Counts and largest ids alone miss a removal followed by an add of the same size on
    SQLite, which reuses the largest freed id; the newest ``created_at`` of assemblies and
    conditions tells those apart (to the database clock's resolution, a second on SQLite).
    """
    parts = (
        sa.select(sa.func.count()).select_from(assemblies),
        sa.select(sa.func.max(assemblies.c.id)),
        sa.select(sa.func.max(assemblies.c.created_at)),
        sa.select(sa.func.count()).select_from(conditions),
        sa.select(sa.func.max(conditions.c.id)),
        sa.select(sa.func.max(conditions.c.created_at)),
        sa.select(sa.func.max(intervals.c.id)),
    )
    with engine.connect() as connection:
        return tuple(connection.execute(sa.select(*(p.scalar_subquery() for p in parts))).one())
