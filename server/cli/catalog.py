"""Open the catalog for a command: read-only commands refuse to create one.

``peaksql list`` and ``describe`` on a data dir with no catalog say so, and how to make one,
instead of silently creating an empty ``~/.peaksql/peaksql.db``; commands that write
(``add-assembly``, ``add-data``, ``example``, ``migrate``) create it as before.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from peaksql.core.errors import NotFound
from peaksql.server.config import resolve_data_dir, resolve_db

if TYPE_CHECKING:
    import sqlalchemy as sa

HOW_TO_MAKE_ONE = "run 'peaksql example' or 'peaksql add-assembly', or set PEAKSQL_DATA_DIR"


class CatalogMissing(NotFound):
    """The data dir or database holds no catalog (exit 2 with the message)."""


def _sqlite_file(db: str) -> Path | None:
    """The file of an SQLite catalog (None for another database or an in-memory one)."""
    from sqlalchemy.engine import make_url

    from peaksql.server.catalog.database import database_url

    url = make_url(database_url(db))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _shown(db: str) -> str:
    """``db`` as the error message names it: the file, or the URL without its password."""
    if "://" not in db:
        return db
    from sqlalchemy.engine import make_url

    return make_url(db).render_as_string(hide_password=True)


def open_existing(args: argparse.Namespace) -> tuple[sa.Engine, Path]:
    """The catalog of ``--db``/``--data-dir`` (upgraded if older than the code) and the data
    dir; CatalogMissing when there is none, creating nothing."""
    from peaksql.server.catalog.database import (
        create_database_engine,
        head_revision,
        schema_revision,
        upgrade,
    )

    data_dir = resolve_data_dir(args.data_dir)
    db = resolve_db(args.db, data_dir)
    sqlite_file = _sqlite_file(db)
    if sqlite_file is not None and not sqlite_file.is_file():
        raise CatalogMissing(f"no catalog at {sqlite_file}: {HOW_TO_MAKE_ONE}")
    engine = create_database_engine(db)
    revision = schema_revision(engine)
    if revision is None:
        engine.dispose()
        raise CatalogMissing(f"no catalog in {_shown(db)} (an empty database): {HOW_TO_MAKE_ONE}")
    if revision != head_revision():
        upgrade(engine)
    return engine, data_dir
