"""The limit the servicer cannot see: concurrent streams per caller.

A stream over the limit aborts RESOURCE_EXHAUSTED with a message naming it (the field of
``config.Limits``). The batch, window, constraint (length and IN lists, checked where the
constraint is parsed) and plan-cache limits are enforced by ``engine.DatasetEngine``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from peaksql.core.errors import ResourceExhausted
from peaksql.server.config import Limits
from peaksql.server.rpc.auth import Metadata
from peaksql.server.rpc.interceptors import Behavior, Interceptor


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


class LimitsInterceptor(Interceptor):
    """Holds a slot of the caller's stream quota for as long as each stream runs."""

    def __init__(self, limits: Limits, identify: Callable[[Metadata | None, str], str]) -> None:
        self.limits = limits
        self.identify = identify
        self.slots = StreamSlots(limits.max_streams_per_token)

    def wrap(
        self, behavior: Behavior, handler_call_details: grpc.HandlerCallDetails, streaming: bool
    ) -> Behavior:
        return super().wrap(behavior, handler_call_details, streaming) if streaming else behavior

    @contextmanager
    def scope(
        self, method: str, request: Any, context: grpc.ServicerContext, streaming: bool
    ) -> Iterator[None]:
        caller = self.identify(context.invocation_metadata(), context.peer())
        try:
            release = self.slots.acquire(caller)
        except ResourceExhausted as error:
            context.abort(error.code, str(error))
        # the stream may end by cancellation without closing its generator at once
        context.add_callback(release)
        try:
            yield
        finally:
            release()
