"""The outermost interceptor: a request id per call, one JSON log line per call, metrics.

It sees every call after authentication, limits and errors have had their say, so its status
code is the one the client gets. The request id is the client's ``x-request-id`` header if it
sent one, else a fresh one; it is sent back as initial metadata ``x-request-id`` so a user
can quote it when reporting a problem.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc

from peaksql.server.rpc.auth import Metadata
from peaksql.server.rpc.interceptors import Interceptor, OnMessage
from peaksql.server.rpc.logs import set_request_id
from peaksql.server.rpc.metrics import Metrics

log = logging.getLogger("peaksql.server.rpc")
REQUEST_ID_HEADER = "x-request-id"
#: Methods whose successful calls are logged at DEBUG only (health probes).
QUIET_PREFIXES = ("/grpc.health.v1.Health/",)


def _request_id(metadata: Metadata | None) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_HEADER and value:
            text = value.decode() if isinstance(value, bytes) else value
            return text[:64]
    return uuid.uuid4().hex[:16]


def _code_name(context: Any, failed: bool) -> str:
    code = context.code()  # set by context.abort, None when the handler returned normally
    if isinstance(code, grpc.StatusCode):
        return code.name
    if failed:
        return "UNKNOWN"
    return "CANCELLED" if context.cancelled() else "OK"


class ObserveInterceptor(Interceptor):
    """Request ids, logs and metrics around every unary and server-streaming call."""

    def __init__(self, metrics: Metrics, identify: Callable[[Metadata | None, str], str]) -> None:
        self.metrics = metrics
        self.identify = identify

    async def _begin(self, context: Any) -> dict[str, object]:
        metadata = context.invocation_metadata()
        request_id = _request_id(metadata)
        set_request_id(request_id)
        await context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))
        return {"caller": self.identify(metadata, context.peer()), "peer": context.peer()}

    def _end(
        self,
        method: str,
        context: Any,
        fields: dict[str, object],
        began: float,
        failed: bool,
    ) -> None:
        code = _code_name(context, failed)
        self.metrics.finished(method, code)
        fields.update(method=method, code=code, seconds=round(time.perf_counter() - began, 6))
        if code not in ("OK", "CANCELLED"):
            details = context.details()
            fields["details"] = details.decode() if isinstance(details, bytes) else details
        if code in ("INTERNAL", "UNKNOWN"):
            level = logging.WARNING
        elif method.startswith(QUIET_PREFIXES) and code == "OK":
            level = logging.DEBUG  # probes every few seconds would drown the log
        else:
            level = logging.INFO
        log.log(level, "rpc finished", extra={"fields": fields})
        set_request_id(None)

    @asynccontextmanager
    async def scope(
        self, method: str, request: Any, context: Any, streaming: bool
    ) -> AsyncIterator[OnMessage | None]:
        began = time.perf_counter()
        fields = await self._begin(context)
        sent = _StreamCounter(self.metrics) if streaming else None
        if sent is not None:
            log.info("stream started", extra={"fields": {"method": method, **fields}})
            self.metrics.active_streams.inc()
        failed = True
        try:
            yield sent
            failed = False
        except (GeneratorExit, asyncio.CancelledError):
            failed = False  # the client went away: CANCELLED, not a server error
            raise
        finally:
            if sent is not None:
                self.metrics.active_streams.dec()
                fields.update(batches=sent.batches, bytes=sent.bytes)
            self._end(method, context, fields, began, failed)


class _StreamCounter:
    """Counts a stream's messages and bytes, in the metrics and for its log line."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.batches = 0
        self.bytes = 0

    def __call__(self, message: Any) -> None:
        size = len(message) if isinstance(message, bytes) else message.ByteSize()
        self.batches += 1
        self.bytes += size
        self.metrics.batches.inc()
        self.metrics.batch_bytes.inc(size)
