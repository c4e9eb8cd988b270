"""Where PeakSQL keeps its data: command-line flags, then environment, then defaults.

``--data-dir`` / ``PEAKSQL_DATA_DIR`` (default ``~/.peaksql``) holds the genome store; the
catalog database is ``--db`` / ``PEAKSQL_DB``, by default an SQLite file in the data dir.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = Path("~/.peaksql")
DB_FILE_NAME = "peaksql.db"


def resolve_data_dir(value: str | os.PathLike[str] | None = None) -> Path:
    """The data directory from ``value``, else ``PEAKSQL_DATA_DIR``, else ``~/.peaksql``."""
    raw = value or os.environ.get("PEAKSQL_DATA_DIR") or DEFAULT_DATA_DIR
    return Path(raw).expanduser().resolve()


def resolve_db(value: str | None, data_dir: Path) -> str:
    """The catalog database URL or path from ``value``, else ``PEAKSQL_DB``, else the data dir."""
    return value or os.environ.get("PEAKSQL_DB") or str(data_dir / DB_FILE_NAME)


@dataclass(frozen=True)
class Limits:
    """Per-request limits; exceeding one is RESOURCE_EXHAUSTED naming the limit."""

    max_batch_bytes: int = 64 << 20
    max_batch_size: int = 65_536
    max_get_windows: int = 65_536
    max_streams_per_token: int = 64
    max_constraint_length: int = 10_000
    max_in_list: int = 1_000
    max_plans: int = 16


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``serve`` needs; the CLI fills it from flags and environment."""

    db: str
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 50051
    workers: int = 8
    grace_seconds: float = 10.0
    limits: Limits = field(default_factory=Limits)

    @property
    def max_message_bytes(self) -> int:
        """gRPC message limit, set equally on server and client: a batch plus headroom."""
        return self.limits.max_batch_bytes + (1 << 20)
