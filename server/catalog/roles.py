"""The read-only PostgreSQL role replicas serve with: SELECT on the catalog and nothing else.

``peaksql migrate --reader-role peaksql_reader`` creates the role (LOGIN, password from a
file) if it is missing and grants it USAGE on the catalog's schema and SELECT on its tables,
including tables later migrations add (default privileges). Any INSERT, UPDATE, DELETE or DDL
by that role then fails in PostgreSQL with "permission denied", whatever the server's code.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from peaksql.core.errors import InvalidArgument

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _literal(text: str) -> str:
    """A PostgreSQL string literal (standard_conforming_strings: only quotes are special)."""
    return "'" + text.replace("'", "''") + "'"


def grant_read_only(engine: sa.Engine, role: str, password: str | None = None) -> list[str]:
    """Create or update ``role`` as a read-only login on the catalog; returns warnings."""
    if engine.dialect.name != "postgresql":
        raise InvalidArgument(
            f"--reader-role needs a PostgreSQL catalog, not {engine.dialect.name}"
        )
    if not _ROLE_NAME.match(role):
        raise InvalidArgument(
            f"role name {role!r}: use lower-case letters, digits and _ (at most 63)"
        )
    quote = engine.dialect.identifier_preparer.quote_identifier
    warnings: list[str] = []
    with engine.begin() as connection:
        schema = connection.scalar(sa.text("SELECT current_schema()"))
        database = connection.scalar(sa.text("SELECT current_database()"))
        exists = connection.scalar(
            sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
        )
        login = "LOGIN" + (f" PASSWORD {_literal(password)}" if password else "")
        verb = "ALTER" if exists else "CREATE"
        connection.execute(
            sa.text(f"{verb} ROLE {quote(role)} WITH {login} NOSUPERUSER NOCREATEDB NOCREATEROLE")
        )
        for statement in (
            f"GRANT CONNECT ON DATABASE {quote(database)} TO {quote(role)}",
            f"GRANT USAGE ON SCHEMA {quote(schema)} TO {quote(role)}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {quote(schema)} TO {quote(role)}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {quote(schema)} "
            f"GRANT SELECT ON TABLES TO {quote(role)}",
        ):
            connection.execute(sa.text(statement))
        may_create = connection.scalar(
            sa.text("SELECT has_schema_privilege(:role, :schema, 'CREATE')"),
            {"role": role, "schema": schema},
        )
        if may_create:
            warnings.append(
                f"role {role} may CREATE in schema {schema} (granted to PUBLIC before "
                f"PostgreSQL 15): consider REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC"
            )
    return warnings
