"""Shared fixtures: a fresh catalog database per test on SQLite and on PostgreSQL.

PostgreSQL tests use ``PEAKSQL_TEST_POSTGRES_URL`` (default: the local ``test`` database)
and an isolated schema per test. With ``CI=true`` they must run: an unreachable server fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get(
    "PEAKSQL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "server" / "example"


def _postgres_available() -> bool:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    available = _postgres_available()
    if not available and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but PostgreSQL is unreachable at {POSTGRES_URL}")
    return available


def postgres_schema_url(schema: str) -> str:
    """A URL whose connections see only ``schema`` (search_path set by libpq options)."""
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL schema, dropped on leaving."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield postgres_schema_url(schema)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextmanager
def backend_url(request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """A catalog URL on ``request.param``'s backend ("sqlite": a file in ``folder``;
    "postgres": a fresh schema, dropped on leaving): for module-scoped catalog fixtures
    parametrized like ``db_url``."""
    if request.param == "sqlite":
        yield f"sqlite:///{folder / 'catalog.db'}"
        return
    if not request.getfixturevalue("postgres_available"):
        pytest.skip("PostgreSQL not reachable")
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_available: bool) -> Iterator[str]:
    """A fresh, empty PostgreSQL schema, dropped afterwards."""
    if not postgres_available:
        pytest.skip("PostgreSQL not reachable (set PEAKSQL_TEST_POSTGRES_URL)")
    with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh catalog database URL: an SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path
