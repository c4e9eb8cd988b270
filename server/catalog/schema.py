"""The catalog tables, declared once on one MetaData (SQLAlchemy Core).

assemblies 1-n chromosomes; conditions 1-n parts n-1 assemblies. A condition (an
experiment, one label column) is independent of assemblies: a part is one condition's
intervals on one assembly (one ingested file; ``append`` adds more), kept as columnar files
in the interval store (``interval_store``): its committed row is the only way a reader finds
them, and ``parts`` is the one table of (condition, assembly) presence (what
``missing="mask"`` reads). ``condition_metadata`` holds each condition's metadata JSON as
key-value rows (the constraint columns named by metadata keys). ``intervals`` is the
pre-store table of interval rows, kept empty: ``store_migration`` converts the rows of an
older catalog into parts. Row ids of chromosomes follow ingest order, which fixes the order
of windows. ``catalog_state`` is one row: the
generation every add and remove bumps (see ``generation``).
Changes to these tables go through a new Alembic revision in ``migrations/versions``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.types import TypeEngine

from peaksql.server.catalog.columns import COLUMNS, OPTIONAL_FIELDS, ColumnDef

metadata = MetaData()


def _stored_column(column: ColumnDef) -> Column:
    """The ``intervals`` column of one stored entry of the column table (nullable)."""
    kind: dict[str, TypeEngine[Any]] = {
        "text": String(column.max_length),
        "integer": BigInteger(),
        "float": Float(),
    }
    return Column(column.name, kind[column.kind])


assemblies = Table(
    "assemblies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("species", String(255)),
    Column("length", BigInteger, nullable=False),
    Column("store_file", String(1024), nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)

chromosomes = Table(
    "chromosomes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "assembly_id",
        Integer,
        ForeignKey("assemblies.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(255), nullable=False),
    Column("length", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False),
    UniqueConstraint("assembly_id", "name", name="uq_chromosomes_assembly_name"),
)

conditions = Table(
    "conditions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("metadata", Text),
    Column("source_file", String(1024)),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)

intervals = Table(
    "intervals",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column(
        "chromosome_id",
        Integer,
        ForeignKey("chromosomes.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "condition_id",
        Integer,
        ForeignKey("conditions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("start", BigInteger, nullable=False),
    Column("end", BigInteger, nullable=False),
    *(_stored_column(c) for c in COLUMNS if c.stored),
    Index("ix_intervals_chromosome_start", "chromosome_id", "start"),
    Index("ix_intervals_condition_chromosome_start", "condition_id", "chromosome_id", "start"),
)

parts = Table(
    "parts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "condition_id",
        Integer,
        ForeignKey("conditions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "assembly_id",
        Integer,
        ForeignKey("assemblies.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("path", String(255), nullable=False, unique=True),
    Column("num_intervals", BigInteger, nullable=False),
    Column("source_file", String(1024)),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
    Index("ix_parts_condition_assembly", "condition_id", "assembly_id"),
)

#: Longest metadata key the ``condition_metadata`` table holds.
MAX_METADATA_KEY = 255

condition_metadata = Table(
    "condition_metadata",
    metadata,
    Column(
        "condition_id",
        Integer,
        ForeignKey("conditions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(MAX_METADATA_KEY), primary_key=True),  # lowercase: a column name
    Column("value_text", Text),  # strings; booleans, lists, objects as JSON
    Column("value_number", Float),  # numbers
    Index("ix_condition_metadata_key", "key"),
)

#: Interval columns a file may fill, in insert order.
INTERVAL_FIELDS = ("chromosome_id", "condition_id", "start", "end", *OPTIONAL_FIELDS)

#: The id of the one row of ``catalog_state``.
CATALOG_STATE_ID = 1

catalog_state = Table(
    "catalog_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", BigInteger, nullable=False, server_default="0"),
    CheckConstraint(f"id = {CATALOG_STATE_ID}", name="ck_catalog_state_one_row"),
)

#: Signal tracks (bigWig/bedGraph values) of a condition: one row per (condition, assembly,
#: strand), naming its folder in the signal store (``signal_store`` holds the layout and the
#: visibility protocol). ``strand`` is "" for unstranded tracks, "+" or "-" for a pair.
signal_tracks = Table(
    "signal_tracks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "condition_id",
        Integer,
        ForeignKey("conditions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "assembly_id",
        Integer,
        ForeignKey("assemblies.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("strand", String(1), nullable=False, server_default=""),
    Column("path", String(1024), nullable=False, unique=True),
    Column("num_runs", BigInteger, nullable=False),
    Column("source_file", String(1024)),
    UniqueConstraint(
        "condition_id", "assembly_id", "strand", name="uq_signal_tracks_condition_strand"
    ),
)
