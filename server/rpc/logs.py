"""Structured logs: one JSON object a line, each carrying the request id of its RPC.

    {"time": "2024-05-01T12:00:00.123Z", "level": "INFO", "logger": "peaksql.server",
     "message": "rpc finished", "request_id": "5f0c…", "method": "/peaksql.v1.PeakSQL/…", …}

The request id lives in a context variable while a handler runs (each RPC is one asyncio task
with its own context; work handed to a thread runs in a copy of it: ``streams.in_thread``),
so every log line a handler writes carries it.
Structured fields are passed as ``log.info("…", extra={"fields": {...}})``.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import datetime, timezone

LOG_FORMATS = ("json", "text")

_current: ContextVar[str | None] = ContextVar("peaksql_request_id", default=None)


def current_request_id() -> str | None:
    """The request id of the RPC this task (or the thread working for it) is handling."""
    return _current.get()


def set_request_id(request_id: str | None) -> None:
    _current.set(request_id)


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request id (None outside an RPC)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time, level, logger, message, request id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(log_format: str = "json", level: int = logging.INFO) -> None:
    """Route the root logger to stderr in ``log_format`` (``json`` or ``text``)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, got {log_format!r}")
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
