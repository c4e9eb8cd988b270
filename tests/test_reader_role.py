"""The read-only role writes nothing outside the catalog either: no temporary tables, no large
objects. Checked by a real connection as that role on the test PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from peaksql.server.catalog.roles import LARGE_OBJECT_WRITERS
from peaksql.server.cli import main

pytestmark = pytest.mark.postgres


@pytest.fixture
def reader_url(postgres_url: str) -> Iterator[str]:
    """``peaksql migrate --reader-role`` with a role of this test's own; its URL."""
    role = f"peaksql_inputs_reader_{uuid.uuid4().hex[:8]}"
    assert main(["migrate", "--db", postgres_url, "--reader-role", role, "-q"]) == 0
    url = sa.engine.make_url(postgres_url).set(username=role)
    yield url.render_as_string(hide_password=False)
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        database = connection.scalar(sa.text("SELECT current_database()"))
        connection.execute(sa.text(f'REVOKE CONNECT ON DATABASE "{database}" FROM {role}'))
        connection.execute(sa.text(f"DROP OWNED BY {role}"))
        connection.execute(sa.text(f"DROP ROLE {role}"))
    admin.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TEMPORARY TABLE scratch (id integer)",
        "CREATE TEMP TABLE scratch AS SELECT 1 AS id",
        "SELECT lo_create(0)",
        "SELECT lo_creat(-1)",
        "SELECT lo_from_bytea(0, 'payload'::bytea)",
        "SELECT lo_put(1, 0, 'x'::bytea)",
    ],
)
def test_the_reader_role_cannot_write_outside_the_catalog(reader_url: str, statement: str) -> None:
    engine = sa.create_engine(reader_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM assemblies")) == 0
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                connection.execute(sa.text(statement))
    finally:
        engine.dispose()


def test_privileges_say_so(reader_url: str) -> None:
    role = sa.engine.make_url(reader_url).username
    engine = sa.create_engine(reader_url)
    try:
        with engine.connect() as connection:
            assert not connection.scalar(
                sa.text("SELECT has_database_privilege(current_database(), 'TEMPORARY')")
            )
            for function in LARGE_OBJECT_WRITERS:
                assert not connection.scalar(
                    sa.text("SELECT has_function_privilege(:role, :function, 'EXECUTE')"),
                    {"role": role, "function": f"pg_catalog.{function}"},
                ), function
            # reading large objects (none are used) and the catalog still works
            assert connection.scalar(sa.text("SELECT count(*) FROM chromosomes")) == 0
            # the interval store's rows (revision 0003): a plan reads them as this role
            assert connection.scalar(sa.text("SELECT count(*) FROM parts")) == 0
            assert connection.scalar(
                sa.text("SELECT has_table_privilege(:role, 'parts', 'SELECT')"), {"role": role}
            )
    finally:
        engine.dispose()


def test_migrate_again_is_idempotent(postgres_url: str, reader_url: str) -> None:
    role = sa.engine.make_url(reader_url).username
    assert main(["migrate", "--db", postgres_url, "--reader-role", role, "-q"]) == 0
    engine = sa.create_engine(reader_url)
    try:
        with engine.connect() as connection, pytest.raises(sa.exc.ProgrammingError):
            connection.execute(sa.text("CREATE TEMPORARY TABLE t (id integer)"))
    finally:
        engine.dispose()
