"""``peaksql serve``'s ServerConfig: a flag, else its environment variable, else the default.

The defaults are ServerConfig's and Limits' own (``peaksql.server.config``); a setting left
unset here is simply not passed, so the dataclass default applies.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from peaksql.core.errors import InvalidArgument
from peaksql.server.config import (
    Limits,
    ServerConfig,
    TLSConfig,
    as_path,
    limit_names,
    resolve_data_dir,
    resolve_db,
)

T = TypeVar("T")

#: ServerConfig field -> (command-line attribute, environment variable, conversion).
_SIMPLE: dict[str, tuple[str, str, Callable[[str], Any]]] = {
    "host": ("host", "PEAKSQL_HOST", str),
    "port": ("port", "PEAKSQL_PORT", int),
    "workers": ("workers", "PEAKSQL_WORKERS", int),
    "grace_seconds": ("grace", "PEAKSQL_GRACE", float),
    "tokens_file": ("tokens_file", "PEAKSQL_TOKENS_FILE", as_path),
    "metrics_port": ("metrics_port", "PEAKSQL_METRICS_PORT", int),
    "metrics_host": ("metrics_host", "PEAKSQL_METRICS_HOST", str),
    "statement_timeout_seconds": ("statement_timeout", "PEAKSQL_STATEMENT_TIMEOUT", float),
    "log_format": ("log_format", "PEAKSQL_LOG_FORMAT", str),
    "stream_idle_seconds": ("stream_idle", "PEAKSQL_STREAM_IDLE", float),
    "db_probe_seconds": ("db_probe", "PEAKSQL_DB_PROBE", float),
    "keepalive_seconds": ("keepalive", "PEAKSQL_KEEPALIVE", float),
}


def setting(value: T | None, variable: str, convert: Callable[[str], T]) -> T | None:
    """A flag's value, else the environment variable's, converted alike, else None.

    A flag given as text (``--tls-cert cert.pem``) goes through ``convert`` as the variable
    does, so that ``Path`` settings are Paths whichever way they came.
    """
    if isinstance(value, str):
        try:
            return convert(value)
        except ValueError:
            raise InvalidArgument(f"{value!r} is not a valid value for {variable}") from None
    if value is not None:
        return value
    raw = os.environ.get(variable)
    if raw is None or raw == "":
        return None
    try:
        return convert(raw)
    except ValueError:
        raise InvalidArgument(f"environment variable {variable}={raw!r} is not valid") from None


def _flag(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _limits(args: argparse.Namespace) -> Limits:
    """Limits from ``--max-*`` / ``PEAKSQL_MAX_*``; unset (or 0) keeps the default."""
    given = {
        name: setting(getattr(args, name), f"PEAKSQL_{name.upper()}", int) for name in limit_names()
    }
    return Limits(**{name: value for name, value in given.items() if value})


def _check_file(flag: str, path: Path | None) -> None:
    """A clear error for a file setting that names no readable file (not a traceback later)."""
    if path is not None and not path.is_file():
        raise InvalidArgument(f"{flag} {path}: no such file")


def _tls(args: argparse.Namespace) -> TLSConfig | None:
    cert = setting(args.tls_cert, "PEAKSQL_TLS_CERT", as_path)
    key = setting(args.tls_key, "PEAKSQL_TLS_KEY", as_path)
    client_ca = setting(args.tls_client_ca, "PEAKSQL_TLS_CLIENT_CA", as_path)
    for flag, path in (("--tls-cert", cert), ("--tls-key", key), ("--tls-client-ca", client_ca)):
        _check_file(flag, path)
    if (cert is None) != (key is None):
        raise InvalidArgument("TLS needs both --tls-cert and --tls-key (PEAKSQL_TLS_CERT/KEY)")
    if client_ca is not None and cert is None:
        raise InvalidArgument("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    return TLSConfig(cert, key, client_ca) if cert and key else None


def serve_config(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig of ``peaksql serve``: flags, then environment, then defaults."""
    data_dir = resolve_data_dir(args.data_dir)
    limits, tls = _limits(args), _tls(args)
    db = resolve_db(args.db, data_dir)
    given: dict[str, Any] = {
        name: setting(getattr(args, attribute), variable, convert)
        for name, (attribute, variable, convert) in _SIMPLE.items()
    }
    _check_file("--tokens-file", given.get("tokens_file"))
    no_migrate = setting(args.no_migrate, "PEAKSQL_NO_MIGRATE", _flag)
    if no_migrate is not None:
        given["migrate"] = not no_migrate
    return ServerConfig(
        db=db,
        data_dir=data_dir,
        limits=limits,
        tls=tls,
        **{name: value for name, value in given.items() if value is not None},
    )
