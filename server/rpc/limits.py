"""Limits the servicer cannot see: concurrent streams per caller, and IN lists of constraints.

A call over a limit aborts RESOURCE_EXHAUSTED with a message naming the limit (the field of
``config.Limits``). The batch, window, constraint-length and plan-cache limits are enforced
by ``service.DatasetEngine`` and ``plan.PlanCache`` themselves.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import grpc

from peaksql.core.errors import ConstraintError, ResourceExhausted
from peaksql.server.config import Limits
from peaksql.server.engine.constraints import parse_where
from peaksql.server.rpc.auth import Metadata


class StreamSlots:
    """Counts open streams per caller; ``acquire`` refuses the one over ``max_streams``."""

    def __init__(self, max_streams: int) -> None:
        self.max_streams = max_streams
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, caller: str) -> Callable[[], None]:
        """Take a slot for ``caller``; returns the release function (safe to call twice)."""
        with self._lock:
            if self._open[caller] >= self.max_streams:
                raise ResourceExhausted(
                    f"{caller} already has {self._open[caller]} open streams, the limit "
                    f"(max_streams_per_token = {self.max_streams}): close one first"
                )
            self._open[caller] += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if released.is_set():
                    return
                released.set()
                self._open[caller] -= 1
                if self._open[caller] <= 0:
                    del self._open[caller]

        return release

    def open_streams(self, caller: str) -> int:
        with self._lock:
            return self._open[caller]


def check_constraint(where: str, limits: Limits) -> None:
    """RESOURCE_EXHAUSTED if ``where`` is over the length or IN-list limit.

    A constraint that is invalid in itself is left to the servicer (INVALID_ARGUMENT); only one
    that parses without limits but not within them is refused here, so the message can say
    which limit it passed.
    """
    if not where.strip():
        return
    if len(where) > limits.max_constraint_length:
        raise ResourceExhausted(
            f"constraint is {len(where)} characters, over the limit of "
            f"{limits.max_constraint_length} (max_constraint_length)"
        )
    if _over_in_list(where, limits.max_in_list):
        raise ResourceExhausted(
            f"an IN list of the constraint has more than {limits.max_in_list} items, over the "
            "limit (max_in_list): select by a column with fewer values, or ask for the limit "
            "to be raised"
        )


@functools.lru_cache(maxsize=1024)
def _over_in_list(where: str, max_in_list: int) -> bool:
    """Whether ``where`` is valid but for an IN list longer than ``max_in_list`` (cached:
    map-style datasets send the same constraint with every GetWindows call)."""
    try:
        parse_where(where, max_length=sys.maxsize, max_in_list=max_in_list)
        return False
    except ConstraintError:
        try:
            parse_where(where, max_length=sys.maxsize, max_in_list=sys.maxsize)
        except ConstraintError:
            return False  # invalid whatever the limits: the servicer reports it
        return True


class LimitsInterceptor(grpc.ServerInterceptor):
    """Checks constraints of every request with a spec and counts streams per caller."""

    def __init__(self, limits: Limits, identify: Callable[[Metadata | None, str], str]) -> None:
        self.limits = limits
        self.identify = identify
        self.slots = StreamSlots(limits.max_streams_per_token)

    def _check(self, request, context) -> None:  # type: ignore[no-untyped-def]
        spec = getattr(request, "spec", None)
        if spec is None:
            return
        try:
            check_constraint(spec.where, self.limits)
        except ResourceExhausted as error:
            context.abort(error.code, str(error))

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._wrap_unary(handler.unary_unary))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=self._wrap_stream(handler.unary_stream))
        return handler

    def _wrap_unary(self, behaviour: Callable) -> Callable:
        def handler(request, context):  # type: ignore[no-untyped-def]
            self._check(request, context)
            return behaviour(request, context)

        return handler

    def _wrap_stream(self, behaviour: Callable) -> Callable:
        def handler(request, context) -> Iterator:  # type: ignore[no-untyped-def]
            self._check(request, context)
            caller = self.identify(context.invocation_metadata(), context.peer())
            try:
                release = self.slots.acquire(caller)
            except ResourceExhausted as error:
                context.abort(error.code, str(error))
            # the stream may end by cancellation without closing this generator at once
            context.add_callback(release)
            try:
                yield from behaviour(request, context)
            finally:
                release()

        return handler
