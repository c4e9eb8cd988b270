"""The plan cache: one compile per (spec, catalog generation), bounded, shared by all streams."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import sqlalchemy as sa

from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.generation import read_generation
from peaksql.server.engine.constraints import Where, parse_where
from peaksql.server.engine.plan import Plan, spec_key


class PlanCache:
    """A bounded LRU of plans keyed by spec and catalog version; one compile per key."""

    def __init__(
        self, compile_fn: Callable[[DatasetSpec, Where], Plan], max_plans: int = 16
    ) -> None:
        self._compile = compile_fn
        self._max_plans = max_plans
        self._plans: OrderedDict[tuple[str, Hashable], Plan] = OrderedDict()
        self._building: dict[tuple[str, Hashable], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, spec: DatasetSpec, version: Hashable = None, where: Where | None = None) -> Plan:
        """The plan of ``spec`` at catalog ``version``.

        ``where`` is the spec's constraint parsed and checked by the caller (the server always
        passes it: ``DatasetEngine.plan``); without it the constraint is parsed here with the
        default limits, for callers with no server around them.
        """
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


def catalog_version(database: sa.Engine) -> int:
    """The plan cache's catalog key: the catalog generation, which every add and remove bumps
    in its own transaction (``catalog.generation``); one primary-key SELECT."""
    return read_generation(database)
