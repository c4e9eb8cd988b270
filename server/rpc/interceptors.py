"""One server interceptor turns domain errors into gRPC statuses, for every method kind.

A ``PeakSQLError`` aborts with the code it carries and its message; anything else is logged
with its traceback and aborts INTERNAL, so a client never hangs on a crashed handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import grpc

from peaksql.core.errors import PeakSQLError

log = logging.getLogger("peaksql.server")


def _abort(context: grpc.ServicerContext, error: Exception) -> None:
    if isinstance(error, PeakSQLError):
        context.abort(error.code, str(error))
    log.exception("internal error")
    context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}: {error}")


def _wrap_unary(behaviour: Callable) -> Callable:
    def handler(request, context):  # type: ignore[no-untyped-def]
        try:
            return behaviour(request, context)
        except Exception as error:
            if _is_abort(error):
                raise
            _abort(context, error)

    return handler


def _wrap_stream(behaviour: Callable) -> Callable:
    def handler(request, context) -> Iterator:  # type: ignore[no-untyped-def]
        try:
            yield from behaviour(request, context)
        except Exception as error:
            if _is_abort(error):
                raise
            _abort(context, error)

    return handler


def _is_abort(error: Exception) -> bool:
    # context.abort signals by raising a bare Exception(); let it through untouched.
    return type(error) is Exception


class ErrorInterceptor(grpc.ServerInterceptor):
    """Wraps every unary-unary and unary-stream handler with the error mapping."""

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=_wrap_unary(handler.unary_unary))
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=_wrap_stream(handler.unary_stream))
        return handler
