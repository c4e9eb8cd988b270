"""The plan cache: one compile per (spec, catalog generation), bounded in count and bytes.

Plans differ in size by orders of magnitude (a stride plan holds a few arrays per chromosome,
a random plan 16 bytes a window), so the cache is bounded by bytes (``max_bytes``, the
server's plan memory budget) as well as by count, evicting least recently used plans first.
"""

from __future__ import annotations

import dataclasses
import mmap
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np
import sqlalchemy as sa

from peaksql.core.spec import DatasetSpec
from peaksql.server.catalog.generation import read_generation
from peaksql.server.engine.constraints import Where, parse_where
from peaksql.server.engine.plan import Plan, spec_key


def nbytes(value: object, _depth: int = 0) -> int:
    """Bytes of the numpy arrays ``value`` holds (memory maps excluded: they are page cache).

    Walks dataclass fields, attributes and lists a few levels deep: a Plan's windows,
    coverage and counts.
    """
    if isinstance(value, np.ndarray):
        return 0 if _mapped(value) else int(value.nbytes)
    if _depth >= 3:
        return 0
    if isinstance(value, (list, tuple)):
        return sum(nbytes(item, _depth + 1) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        children = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif hasattr(value, "__dict__"):
        children = list(vars(value).values())
    else:
        return 0
    return sum(nbytes(child, _depth + 1) for child in children)


def _mapped(array: np.ndarray) -> bool:
    """Whether ``array`` is (a view of) a memory-mapped file."""
    base: object = array
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap):
            return True
        base = base.base
    return isinstance(base, mmap.mmap)


class PlanCache:
    """An LRU of plans keyed by spec and catalog version; one compile per key.

    At most ``max_plans`` plans and ``max_bytes`` bytes of them (``nbytes``); the plan just
    made always stays, so a plan larger than the budget is refused before it is built, by the
    caller (``DatasetEngine``), not here.
    """

    def __init__(
        self,
        compile_fn: Callable[[DatasetSpec, Where], Plan],
        max_plans: int = 16,
        max_bytes: int | None = None,
    ) -> None:
        self._compile = compile_fn
        self._max_plans = max_plans
        self._max_bytes = max_bytes
        self._plans: OrderedDict[tuple[str, Hashable], tuple[Plan, int]] = OrderedDict()
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
        cached = self._lookup(key)
        if cached is not None:
            return cached
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:
            cached = self._lookup(key)
            if cached is not None:
                return cached
            try:
                plan = self._compile(spec, where)
            finally:  # a spec that fails to compile must not leave its lock behind
                with self._lock:
                    self._building.pop(key, None)
            self._insert(key, plan)
            return plan

    def peek(self, spec: DatasetSpec, version: Hashable, where: Where) -> Plan | None:
        """The cached plan of ``spec`` at ``version``, if any; compiles nothing."""
        return self._lookup((spec_key(spec, where), version))

    def _lookup(self, key: tuple[str, Hashable]) -> Plan | None:
        with self._lock:
            if key not in self._plans:
                return None
            self._plans.move_to_end(key)
            return self._plans[key][0]

    def _insert(self, key: tuple[str, Hashable], plan: Plan) -> None:
        size = nbytes(plan)
        with self._lock:
            self._plans[key] = (plan, size)
            while len(self._plans) > 1 and (
                len(self._plans) > self._max_plans
                or (self._max_bytes is not None and self.nbytes > self._max_bytes)
            ):
                self._plans.popitem(last=False)

    @property
    def nbytes(self) -> int:
        """Bytes of the cached plans' arrays."""
        return sum(size for _, size in self._plans.values())

    def __len__(self) -> int:
        return len(self._plans)


def catalog_version(database: sa.Engine) -> int:
    """The plan cache's catalog key: the catalog generation, which every add and remove bumps
    in its own transaction (``catalog.generation``); one primary-key SELECT."""
    return read_generation(database)
