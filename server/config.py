"""Where PeakSQL keeps its data and how it serves it: flags, then environment, then defaults.

``--data-dir`` / ``PEAKSQL_DATA_DIR`` (default ``~/.peaksql``) holds the genome store; the
catalog database is ``--db`` / ``PEAKSQL_DB`` (or the URL read from ``PEAKSQL_DB_FILE``), by
default an SQLite file in the data dir. ``PEAKSQL_DB_PASSWORD_FILE`` supplies the password of
a URL that has none, so that secrets stay in files (Docker secrets), never in the environment.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = Path("~/.peaksql")
DB_FILE_NAME = "peaksql.db"
#: ``--log-format`` / ``PEAKSQL_LOG_FORMAT`` values (``peaksql.server.rpc.logs`` knows each).
LOG_FORMATS = ("json", "text")


def resolve_data_dir(value: str | os.PathLike[str] | None = None) -> Path:
    """The data directory from ``value``, else ``PEAKSQL_DATA_DIR``, else ``~/.peaksql``."""
    raw = value or os.environ.get("PEAKSQL_DATA_DIR") or DEFAULT_DATA_DIR
    return Path(raw).expanduser().resolve()


def as_path(value: str | os.PathLike[str]) -> Path:
    """A file setting as a Path, ``~`` expanded: flags, environment and callers may give text."""
    return Path(value).expanduser()


def _optional_path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else as_path(value)


def _read_secret(path: str) -> str:
    return Path(path).read_text().strip()


def resolve_db(value: str | None, data_dir: Path) -> str:
    """The catalog URL or path: ``value``, else ``PEAKSQL_DB``, else ``PEAKSQL_DB_FILE``'s
    contents, else the SQLite file in the data dir; with ``PEAKSQL_DB_PASSWORD_FILE`` set,
    that file's contents become the password of a URL that has none."""
    db = value or os.environ.get("PEAKSQL_DB")
    if not db and os.environ.get("PEAKSQL_DB_FILE"):
        db = _read_secret(os.environ["PEAKSQL_DB_FILE"])
    if not db:
        return str(data_dir / DB_FILE_NAME)
    password_file = os.environ.get("PEAKSQL_DB_PASSWORD_FILE")
    if password_file and "://" in db:
        from sqlalchemy.engine import make_url

        url = make_url(db)
        if url.password is None:
            url = url.set(password=_read_secret(password_file))
            return url.render_as_string(hide_password=False)
    return db


#: Share of the machine's memory the server's plans may take by default.
PLAN_MEMORY_FRACTION = 0.25


def default_plan_memory_budget() -> int:
    """``PLAN_MEMORY_FRACTION`` of physical memory (4 GiB where the OS does not say)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 << 30
    return int(total * PLAN_MEMORY_FRACTION)


@dataclass(frozen=True)
class Limits:
    """Per-request limits; exceeding one is RESOURCE_EXHAUSTED naming the limit.

    Each is settable as ``--max-…`` on ``peaksql serve`` or ``PEAKSQL_MAX_…`` in the
    environment (the field name, upper-cased).
    """

    max_batch_bytes: int = 64 << 20
    max_batch_size: int = 65_536
    max_get_windows: int = 65_536
    max_streams_per_token: int = 64
    max_constraint_length: int = 10_000
    max_in_list: int = 1_000
    max_plans: int = 16
    # -- a shared server that stays up (issue 14) --
    max_streams: int = 1024
    plan_memory_budget: int = field(default_factory=default_plan_memory_budget)


LIMIT_HELP = {
    "max_batch_bytes": "largest batch message in bytes",
    "max_batch_size": "most windows in one batch",
    "max_get_windows": "most windows one GetWindows call may ask for",
    "max_streams_per_token": "concurrent streams one token (or, without tokens, one host) may hold",
    "max_constraint_length": "longest constraint text in characters",
    "max_in_list": "most items in one IN (...) list of a constraint",
    "max_plans": "dataset plans kept in the server's cache (LRU)",
    "max_streams": "concurrent streams the whole server holds open",
    "plan_memory_budget": "bytes of plans the server keeps or builds (default: 1/4 of memory)",
}


def limit_names() -> list[str]:
    """The names of every limit, in declaration order."""
    return [f.name for f in fields(Limits)]


@dataclass(frozen=True)
class TLSConfig:
    """Server certificate and key (PEM files); a client CA turns on mutual TLS."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def __post_init__(self) -> None:
        # ``peaksql serve --tls-cert FILE`` gives text: every file field is a Path from here on
        object.__setattr__(self, "cert", as_path(self.cert))
        object.__setattr__(self, "key", as_path(self.key))
        object.__setattr__(self, "client_ca", _optional_path(self.client_ca))


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``serve`` needs; the CLI fills it from flags and environment.

    ``tokens_file``: bearer tokens, one a line (see ``peaksql.server.rpc.auth``); None serves
    without authentication (laptop use). ``metrics_port``: Prometheus metrics over HTTP on
    ``metrics_host`` (None: off; 0: any free port). ``statement_timeout_seconds`` bounds every
    SQL statement on PostgreSQL. ``migrate``: upgrade an old catalog schema at start; replicas
    in a deployment set it False (the serving role may not write; ``peaksql migrate`` runs once).
    ``log_format``: how ``peaksql serve`` writes log lines, one of :data:`LOG_FORMATS`.

    The field defaults are the server's defaults: ``peaksql serve`` and its help read them.
    """

    db: str
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 50051
    workers: int = 8
    grace_seconds: float = 10.0
    limits: Limits = field(default_factory=Limits)
    tokens_file: Path | None = None
    tls: TLSConfig | None = None
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"
    statement_timeout_seconds: float = 60.0
    migrate: bool = True
    log_format: str = "json"
    # -- a shared server that stays up: see peaksql.server.rpc.streams --
    #: a stream whose client takes no message for this long is closed DEADLINE_EXCEEDED
    stream_idle_seconds: float = 300.0
    #: how often the catalog database is probed for the health service
    db_probe_seconds: float = 5.0
    #: HTTP/2 keepalive pings to each client (a vanished client frees its streams)
    keepalive_seconds: float = 30.0

    def __post_init__(self) -> None:
        # file settings may arrive as text (flags, environment): Paths from here on
        object.__setattr__(self, "data_dir", as_path(self.data_dir))
        object.__setattr__(self, "tokens_file", _optional_path(self.tokens_file))

    @property
    def max_message_bytes(self) -> int:
        """gRPC message limit, set equally on server and client: a batch plus headroom."""
        return self.limits.max_batch_bytes + (1 << 20)


def server_defaults() -> dict[str, Any]:
    """The default of every ServerConfig field that has one, by field name."""
    defaults: dict[str, Any] = {}
    for item in fields(ServerConfig):
        if item.default is not MISSING:
            defaults[item.name] = item.default
        elif item.default_factory is not MISSING:
            defaults[item.name] = item.default_factory()
    return defaults
