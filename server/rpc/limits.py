"""The limits the servicer cannot see: open streams per caller and on the whole server.

A stream over either limit aborts RESOURCE_EXHAUSTED at once, with a message naming it (the
field of ``config.Limits``), never a silent wait: an open stream costs the server no thread
(``streams``), so the only bound on them is this count. The batch, window, constraint
(length and IN lists, checked where the constraint is parsed), plan-memory and plan-cache
limits are enforced by ``engine.DatasetEngine``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc

from peaksql.core.errors import ResourceExhausted
from peaksql.server.config import Limits
from peaksql.server.rpc.auth import Metadata
from peaksql.server.rpc.interceptors import Behavior, Interceptor


class StreamSlots:
    """Counts open streams per caller and in all; ``acquire`` refuses one over a limit."""

    def __init__(self, max_streams: int, max_total: int | None = None) -> None:
        self.max_streams = max_streams
        self.max_total = max_total
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _check(self, caller: str) -> None:
        total = sum(self._open.values())
        if self.max_total is not None and total >= self.max_total:
            raise ResourceExhausted(
                f"the server has {total} open streams, its limit (max_streams = "
                f"{self.max_total}): try again later or another replica"
            )
        if self._open[caller] >= self.max_streams:
            raise ResourceExhausted(
                f"{caller} already has {self._open[caller]} open streams, the limit "
                f"(max_streams_per_token = {self.max_streams}): close one first"
            )

    def acquire(self, caller: str) -> Callable[[], None]:
        """Take a slot for ``caller``; returns the release function (safe to call twice)."""
        with self._lock:
            self._check(caller)
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

    def open_streams(self, caller: str | None = None) -> int:
        """Streams ``caller`` holds open, or all open streams with no caller given."""
        with self._lock:
            return sum(self._open.values()) if caller is None else self._open[caller]


class LimitsInterceptor(Interceptor):
    """Holds a slot of the caller's and the server's stream quota while each stream runs."""

    def __init__(self, limits: Limits, identify: Callable[[Metadata | None, str], str]) -> None:
        self.limits = limits
        self.identify = identify
        self.slots = StreamSlots(limits.max_streams_per_token, limits.max_streams)

    def wrap(
        self, behavior: Behavior, handler_call_details: grpc.HandlerCallDetails, streaming: bool
    ) -> Behavior:
        return super().wrap(behavior, handler_call_details, streaming) if streaming else behavior

    @asynccontextmanager
    async def scope(
        self, method: str, request: Any, context: Any, streaming: bool
    ) -> AsyncIterator[None]:
        caller = self.identify(context.invocation_metadata(), context.peer())
        try:
            release = self.slots.acquire(caller)
        except ResourceExhausted as error:
            await context.abort(error.code, str(error))
        # the stream may end by cancellation without leaving this scope at once
        context.add_done_callback(lambda _context: release())
        try:
            yield None
        finally:
            release()
