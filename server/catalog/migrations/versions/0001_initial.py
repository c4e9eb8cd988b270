"""Initial catalog: assemblies, chromosomes, conditions, intervals.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    _create_genome_tables()
    _create_interval_tables()


def _create_genome_tables() -> None:
    op.create_table(
        "assemblies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("species", sa.String(255)),
        sa.Column("length", sa.BigInteger, nullable=False),
        sa.Column("store_file", sa.String(1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_table(
        "chromosomes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "assembly_id",
            sa.Integer,
            sa.ForeignKey("assemblies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("length", sa.BigInteger, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("assembly_id", "name", name="uq_chromosomes_assembly_name"),
    )


def _create_interval_tables() -> None:
    op.create_table(
        "conditions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column(
            "assembly_id",
            sa.Integer,
            sa.ForeignKey("assemblies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("metadata", sa.Text),
        sa.Column("source_file", sa.String(1024)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_table(
        "intervals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column(
            "chromosome_id",
            sa.Integer,
            sa.ForeignKey("chromosomes.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "condition_id",
            sa.Integer,
            sa.ForeignKey("conditions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("score", sa.Float),
        sa.Column("strand", sa.String(1)),
        sa.Column("signal_value", sa.Float),
        sa.Column("p_value", sa.Float),
        sa.Column("q_value", sa.Float),
        sa.Column("summit", sa.BigInteger),
        sa.Column("value", sa.Float),
    )
    op.create_index("ix_intervals_chromosome_start", "intervals", ["chromosome_id", "start"])
    op.create_index(
        "ix_intervals_condition_chromosome_start",
        "intervals",
        ["condition_id", "chromosome_id", "start"],
    )


def downgrade() -> None:
    op.drop_table("intervals")
    op.drop_table("conditions")
    op.drop_table("chromosomes")
    op.drop_table("assemblies")
