"""Catalog database: schema, engine and migrations."""

from peaksql.server.db.engine import open_database, schema_revision
from peaksql.server.db.schema import assemblies, chromosomes, conditions, intervals, metadata

__all__ = [
    "assemblies",
    "chromosomes",
    "conditions",
    "intervals",
    "metadata",
    "open_database",
    "schema_revision",
]
