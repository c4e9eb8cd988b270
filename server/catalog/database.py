"""Open the catalog database, upgrading its schema in place when it is older than the code.

Any SQLAlchemy URL works; a bare path means an SQLite file. SQLite runs in WAL mode with
foreign keys on, so that readers (the server) and a writer (an ingest) can share the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from peaksql.server.catalog.interval_store import bind_data_dir

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def database_url(db: str | Path) -> str:
    """Turn a ``--db`` value into a SQLAlchemy URL (a bare path is an SQLite file)."""
    text = str(db)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The revision the code expects."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""


def schema_revision(engine: Engine) -> str | None:
    """The revision a database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run every pending migration up to ``revision`` (default: the newest) in one transaction.

    On SQLite, foreign keys are off while it runs: batch migrations copy a table and drop
    the old one, and with foreign keys on that drop would cascade into the tables that
    reference it (SQLite's own procedure for altering a table starts so). The pragma only
    takes effect outside a transaction; ``PRAGMA foreign_key_check`` runs before the commit.
    """
    config = _alembic_config()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("the migration left rows whose foreign key is broken")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_database_engine(db: str | Path) -> Engine:
    """An Engine for ``db`` with the dialect settings PeakSQL relies on (no migration)."""
    url = make_url(database_url(db))
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("", "psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(url, pool_pre_ping=True)


def open_database(
    db: str | Path, *, migrate: bool = True, data_dir: str | Path | None = None
) -> Engine:
    """Open ``db`` and bring its schema to the code's revision (unless ``migrate`` is False).

    With ``data_dir`` (where genomes and the interval store live) the engine remembers it
    for ingests, and a migration also converts an older catalog's interval rows into store
    parts (``ingest.store_migration``; one SELECT when there are none).
    """
    engine = create_database_engine(db)
    if migrate and schema_revision(engine) != head_revision():
        upgrade(engine)
    if data_dir is not None:
        bind_data_dir(engine, Path(data_dir))
        if migrate:
            # ingest builds parts; imported here so catalog code never needs ingest otherwise
            from peaksql.server.ingest.store_migration import convert_legacy_intervals

            convert_legacy_intervals(engine, Path(data_dir))
    return engine
