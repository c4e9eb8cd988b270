"""The interceptor plumbing, written once, and the interceptor that maps errors to statuses.

``Interceptor`` finds a call's handler and hands its behaviour to ``wrap(behavior,
handler_call_details, streaming)``; ``streaming`` says whether the response is a stream
(a generator must then be returned). Most interceptors only say what surrounds a call:
``scope`` is a context manager around the whole call (for a stream, from its first message
to its end, cancellation included), and what it yields, if not None, sees each streamed
message. Client-streaming handlers pass through untouched unless ``wraps_request_streams``.

``ErrorInterceptor``: a ``PeakSQLError`` aborts with the code it carries and its message;
anything else is logged with its traceback and aborts INTERNAL, so a client never hangs on a
crashed handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import grpc

from peaksql.core.errors import PeakSQLError

log = logging.getLogger("peaksql.server")

#: A handler's behaviour: ``(request, context) -> response`` or a response iterator.
Behavior = Callable[[Any, grpc.ServicerContext], Any]
#: Called with each message of a server stream.
OnMessage = Callable[[Any], None]
#: Handler kinds: (attribute of the RpcMethodHandler, response streams, request streams).
_KINDS = (
    ("unary_unary", False, False),
    ("unary_stream", True, False),
    ("stream_unary", False, True),
    ("stream_stream", True, True),
)


def around(
    behavior: Behavior,
    streaming: bool,
    scope: Callable[[Any, grpc.ServicerContext], AbstractContextManager[OnMessage | None]],
) -> Behavior:
    """``behavior`` run inside ``scope(request, context)`` (a stream: all of it)."""
    if not streaming:

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            with scope(request, context):
                return behavior(request, context)

        return unary

    def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        with scope(request, context) as on_message:
            for message in behavior(request, context):
                if on_message is not None:
                    on_message(message)
                yield message

    return stream


class Interceptor(grpc.ServerInterceptor):
    """Base of the server's interceptors: wraps each call's handler with ``wrap``."""

    #: Whether client-streaming handlers (e.g. reflection's) are wrapped too.
    wraps_request_streams = False

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler: Any = continuation(handler_call_details)  # a namedtuple at run time
        if handler is None:
            return None
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
        self, method: str, request: Any, context: grpc.ServicerContext, streaming: bool
    ) -> AbstractContextManager[OnMessage | None]:
        """What surrounds one call of ``method``; subclasses using ``wrap``'s default say."""
        raise NotImplementedError


def _abort(context: grpc.ServicerContext, error: Exception) -> None:
    if isinstance(error, PeakSQLError):
        context.abort(error.code, str(error))
    log.exception("internal error")
    context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}: {error}")


def _is_abort(error: Exception) -> bool:
    # context.abort signals by raising a bare Exception(); let it through untouched.
    return type(error) is Exception


class ErrorInterceptor(Interceptor):
    """Every unary and server-streaming call with domain errors mapped to statuses."""

    @contextmanager
    def scope(
        self, method: str, request: Any, context: grpc.ServicerContext, streaming: bool
    ) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            if _is_abort(error):
                raise
            _abort(context, error)
