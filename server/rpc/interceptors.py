"""The interceptor plumbing (grpc.aio), written once, and the interceptor that maps errors.

``Interceptor`` finds a call's handler and hands its behaviour to ``wrap(behavior,
handler_call_details, streaming)``; ``streaming`` says whether the response is a stream.
Every behaviour is a coroutine function: a unary one returns its response, a streaming one
sends with ``await context.write(message)`` (an async-generator behaviour is turned into
such a writer first), so that the one place a stream waits for its client is a ``write``
that the stream can bound in time (``streams.IdleLimit``).

Most interceptors only say what surrounds a call: ``scope`` is an async context manager
around the whole call (for a stream, from its start to its end, cancellation included), and
what it yields, if not None, sees each message the stream writes. Client-streaming handlers
pass through untouched unless ``wraps_request_streams``.

``ErrorInterceptor``: a ``PeakSQLError`` aborts with the code it carries and its message; a
catalog database that cannot be reached is UNAVAILABLE naming it (``catalog_health``);
anything else is logged with its traceback and aborts INTERNAL, so a client never hangs on a
crashed handler. Every status message is clipped (``clip``): a request that echoes a 1 MB
name gets a short message, not a trailer over gRPC's metadata limit.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import grpc
from grpc import aio

from peaksql.core.errors import PeakSQLError

log = logging.getLogger("peaksql.server")

#: A handler's behaviour: ``async (request, context) -> response`` (or None for a stream).
Behavior = Callable[[Any, Any], Awaitable[Any]]
#: Called with each message of a server stream.
OnMessage = Callable[[Any], None]
#: Handler kinds: (attribute of the RpcMethodHandler, response streams, request streams).
_KINDS = (
    ("unary_unary", False, False),
    ("unary_stream", True, False),
    ("stream_unary", False, True),
    ("stream_stream", True, True),
)
#: Longest echoed value (a run without spaces) in a status message, and longest message.
MAX_ECHO_CHARS = 200
MAX_STATUS_CHARS = 1000
_LONG_RUN = re.compile(rf"\S{{{MAX_ECHO_CHARS + 1},}}")


def clip(message: str) -> str:
    """``message`` with each run over ``MAX_ECHO_CHARS`` cut, at most ``MAX_STATUS_CHARS``."""
    message = _LONG_RUN.sub(
        lambda m: f"{m.group()[:MAX_ECHO_CHARS]}…[{len(m.group()):,} characters]", message
    )
    if len(message) > MAX_STATUS_CHARS:
        message = message[: MAX_STATUS_CHARS - 20] + "…[message cut]"
    return message


class _Observed:
    """A servicer context whose ``write`` also tells ``on_message``; the rest is the context's."""

    def __init__(self, context: Any, on_message: OnMessage) -> None:
        self._context = context
        self._on_message = on_message

    async def write(self, message: Any) -> None:
        self._on_message(message)
        await self._context.write(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def as_writer(behavior: Callable[..., Any]) -> Behavior:
    """A streaming behaviour as a coroutine that writes: async generators are drained."""
    if not inspect.isasyncgenfunction(behavior):
        return behavior

    async def writer(request: Any, context: Any) -> None:
        async for message in behavior(request, context):
            await context.write(message)

    return writer


def around(
    behavior: Behavior,
    streaming: bool,
    scope: Callable[[Any, Any], AbstractAsyncContextManager[OnMessage | None]],
) -> Behavior:
    """``behavior`` run inside ``scope(request, context)`` (a stream: all of it)."""
    if not streaming:

        async def unary(request: Any, context: Any) -> Any:
            async with scope(request, context):
                return await behavior(request, context)

        return unary

    write_all = as_writer(behavior)

    async def stream(request: Any, context: Any) -> None:
        async with scope(request, context) as on_message:
            await write_all(
                request, context if on_message is None else _Observed(context, on_message)
            )

    return stream


class Interceptor(aio.ServerInterceptor):
    """Base of the server's interceptors: wraps each call's handler with ``wrap``."""

    #: Whether client-streaming handlers (e.g. reflection's) are wrapped too.
    wraps_request_streams = False

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler: Any = await continuation(handler_call_details)  # a namedtuple at run time
        if handler is None:
            return handler
        for kind, streaming, request_streams in _KINDS:
            behavior = getattr(handler, kind)
            if behavior is None:
                continue
            if request_streams and not self.wraps_request_streams:
                return handler
            wrapped = self.wrap(behavior, handler_call_details, streaming)
            return handler if wrapped is behavior else handler._replace(**{kind: wrapped})
        return handler

    def wrap(
        self, behavior: Behavior, handler_call_details: grpc.HandlerCallDetails, streaming: bool
    ) -> Behavior:
        """The behaviour to run instead of ``behavior``; by default ``behavior`` in ``scope``."""
        method: str = handler_call_details.method
        return around(
            behavior,
            streaming,
            lambda request, context: self.scope(method, request, context, streaming),
        )

    def scope(
        self, method: str, request: Any, context: Any, streaming: bool
    ) -> AbstractAsyncContextManager[OnMessage | None]:
        """What surrounds one call of ``method``; subclasses using ``wrap``'s default say."""
        raise NotImplementedError


def _is_abort(error: BaseException) -> bool:
    # context.abort raises AbortError (aio) or a bare Exception (sync API); let it through.
    return isinstance(error, aio.AbortError) or type(error) is Exception


class ErrorInterceptor(Interceptor):
    """Every unary and server-streaming call with errors mapped to statuses.

    ``translate`` turns an exception that is not a ``PeakSQLError`` into one when it can (the
    catalog database's errors into UNAVAILABLE), or returns None.
    """

    def __init__(
        self, translate: Callable[[Exception], PeakSQLError | None] = lambda error: None
    ) -> None:
        self.translate = translate

    @asynccontextmanager
    async def scope(
        self, method: str, request: Any, context: Any, streaming: bool
    ) -> AsyncIterator[None]:
        try:
            yield None
        except Exception as error:
            if _is_abort(error):
                raise
            domain = error if isinstance(error, PeakSQLError) else self.translate(error)
            if domain is None:
                log.exception("internal error")
                message = f"internal error: {type(error).__name__}: {error}"
                await context.abort(grpc.StatusCode.INTERNAL, clip(message))
                raise  # not reached: abort raises
            await context.abort(domain.code, clip(str(domain)))
