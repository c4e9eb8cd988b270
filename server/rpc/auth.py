"""Bearer-token authentication: a tokens file, and one interceptor that checks every call.

Tokens file: one token a line, optionally after a name (``alice  3f9c…``); blank lines and
``#`` comments are skipped. The name (else a short hash of the token) is who the caller is in
logs, metrics and the per-token stream limit; the token itself is never logged. The file is
re-read when it changes, so adding or revoking a user needs no restart.

Every method needs ``authorization: Bearer <token>`` except the gRPC health service (load
balancers and Docker probe it without credentials). A missing or unknown token is
UNAUTHENTICATED. There is no admin token because the server offers no remote writes:
adding or removing data is done with the ``peaksql`` command against the database.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

from peaksql.core.errors import InputFileError
from peaksql.server.rpc.interceptors import Behavior, Interceptor

#: Methods callable without a token (full method-name prefixes).
EXEMPT_PREFIXES = ("/grpc.health.v1.Health/",)
#: How often, at most, the tokens file's modification time is checked.
RELOAD_CHECK_SECONDS = 1.0

Metadata = Sequence[tuple[str, str | bytes]]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_tokens(path: Path) -> dict[str, str]:
    """``{sha256(token): name}`` from a tokens file; InputFileError names a bad line."""
    found: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) > 2:
            raise InputFileError(path, number, "expected 'TOKEN' or 'NAME TOKEN'")
        token = parts[-1]
        digest = _digest(token)
        if digest in found:
            raise InputFileError(path, number, "this token is listed twice")
        found[digest] = parts[0] if len(parts) == 2 else f"token-{digest[:8]}"
    return found


class TokenStore:
    """The valid tokens of one file, re-read when the file's modification time changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._mtime = self.path.stat().st_mtime_ns
        self._names = parse_tokens(self.path)
        self._checked = time.monotonic()

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_SECONDS:
            return
        with self._lock:
            self._checked = now
            try:
                mtime = self.path.stat().st_mtime_ns
                if mtime != self._mtime:
                    self._names, self._mtime = parse_tokens(self.path), mtime
            except (OSError, InputFileError):
                pass  # keep serving with the last good file; a broken edit locks nobody out

    def name(self, token: str) -> str | None:
        """Who ``token`` belongs to, or None if it is not valid."""
        self._refresh()
        return self._names.get(_digest(token))


def bearer_token(metadata: Metadata | None) -> str | None:
    """The token of an ``authorization: Bearer …`` header, if there is one."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def make_identify(tokens: TokenStore | None) -> Callable[[Metadata | None, str], str]:
    """``identify(metadata, peer)``: the token's name, or the peer's host without tokens."""

    def identify(metadata: Metadata | None, peer: str) -> str:
        if tokens is not None:
            token = bearer_token(metadata)
            name = tokens.name(token) if token else None
            return name or "unauthenticated"
        # "ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7"; "ipv6:[::1]:5123" -> "ipv6:[::1]"
        return peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer

    return identify


def _refuse(message: str) -> Behavior:
    async def behavior(request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return behavior


class AuthInterceptor(Interceptor):
    """Lets a call through only with a valid bearer token (health checks excepted).

    Every kind of method is guarded, client-streaming ones (reflection) included.
    """

    wraps_request_streams = True

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    def wrap(
        self, behavior: Behavior, handler_call_details: grpc.HandlerCallDetails, streaming: bool
    ) -> Behavior:
        method: str = handler_call_details.method
        if method.startswith(EXEMPT_PREFIXES):
            return behavior
        metadata = handler_call_details.invocation_metadata
        token = bearer_token(metadata)
        if token is not None and self.tokens.name(token) is not None:
            return behavior
        problem = (
            "missing bearer token: send 'authorization: Bearer <token>' "
            "(peaksql.Client(token=...) or PEAKSQL_TOKEN_FILE)"
            if token is None
            else "invalid bearer token"
        )
        return _refuse(f"{method}: {problem}")
