"""The read-only PostgreSQL role replicas serve with: SELECT on the catalog and nothing else.

``peaksql migrate --reader-role peaksql_reader`` creates the role (LOGIN, password from a
file) if it is missing and grants it USAGE on the catalog's schema and SELECT on its tables,
including tables later migrations add (default privileges). Any INSERT, UPDATE, DELETE or DDL
by that role then fails in PostgreSQL with "permission denied", whatever the server's code.

Writing is also possible outside the catalog's tables, and is closed too:

* temporary tables: ``TEMPORARY`` on the database is granted to ``PUBLIC`` by default, and
  every role is a member of ``PUBLIC``, so revoking it from the role alone changes nothing;
  it is revoked from ``PUBLIC`` (the owner and superusers keep it; another role of a shared
  database that needs temporary tables must be granted them by name, and a warning says so);
* large objects (``lo_create``, ``lo_from_bytea``, ``lowrite``, ... write ``pg_largeobject``,
  which survives the session): ``EXECUTE`` on the functions that create or write them is
  revoked from ``PUBLIC`` and from the role (PeakSQL uses no large objects).

Both need the privileges of the database's and the functions' owner (a superuser for the
functions); with less, PostgreSQL only warns, and so does this module, with the statements
to run.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from peaksql.core.errors import InvalidArgument

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: The large-object functions that create or write one (pg_catalog; lo_import needs a
#: superuser already, listed for older servers).
LARGE_OBJECT_WRITERS = (
    "lo_creat(integer)",
    "lo_create(oid)",
    "lo_from_bytea(oid, bytea)",
    "lo_import(text)",
    "lo_import(text, oid)",
    "lo_put(oid, bigint, bytea)",
    "lowrite(integer, bytea)",
    "lo_truncate(integer, integer)",
    "lo_truncate64(integer, bigint)",
)


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
        warnings += _close_side_doors(connection, role, database)
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


#: Whether PUBLIC holds TEMPORARY on a database (a NULL ACL means the defaults: it does).
_PUBLIC_HAS_TEMPORARY = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_database d, "
    "aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
    "WHERE d.datname = :database AND a.grantee = 0 AND a.privilege_type = 'TEMPORARY')"
)


def _close_side_doors(connection: sa.Connection, role: str, database: str) -> list[str]:
    """Revoke temporary tables and large-object writes (see the module doc); warnings for
    what is still possible afterwards (not owner enough to revoke it).
    """
    quote = connection.dialect.identifier_preparer.quote_identifier
    public_had_temporary = connection.scalar(_PUBLIC_HAS_TEMPORARY, {"database": database})
    for grantee in ("PUBLIC", quote(role)):
        connection.execute(
            sa.text(f"REVOKE TEMPORARY ON DATABASE {quote(database)} FROM {grantee}")
        )
        for function in LARGE_OBJECT_WRITERS:
            connection.execute(
                sa.text(f"REVOKE EXECUTE ON FUNCTION pg_catalog.{function} FROM {grantee}")
            )
    warnings = []
    if public_had_temporary and not connection.scalar(
        _PUBLIC_HAS_TEMPORARY, {"database": database}
    ):
        warnings.append(
            f"TEMPORARY on database {database} is no longer granted to PUBLIC: a role other "
            "than the owner that needs temporary tables needs "
            f"GRANT TEMPORARY ON DATABASE {database} TO it"
        )
    if connection.scalar(
        sa.text("SELECT has_database_privilege(:role, :database, 'TEMPORARY')"),
        {"role": role, "database": database},
    ):
        warnings.append(
            f"role {role} may still create temporary tables: as the owner of database "
            f"{database}, run REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC, {role}"
        )
    writable = [
        function
        for function in LARGE_OBJECT_WRITERS
        if connection.scalar(
            sa.text("SELECT has_function_privilege(:role, :function, 'EXECUTE')"),
            {"role": role, "function": f"pg_catalog.{function}"},
        )
    ]
    if writable:
        warnings.append(
            f"role {role} may still create large objects ({', '.join(writable)}): as a "
            "superuser, run REVOKE EXECUTE ON FUNCTION ... FROM PUBLIC for each"
        )
    return warnings
