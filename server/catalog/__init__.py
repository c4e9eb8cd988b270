"""The catalog: the relational source of truth and the genome store beside it.

``schema`` (SQLAlchemy Core tables), ``database`` (opening SQLite or PostgreSQL and
migrating), ``migrations`` (Alembic), ``queries`` (read-side listings), ``roles`` (the
read-only serving role) and ``genome_store`` (memory-mapped genome files). It imports
nothing else of the server.
"""
