"""Signal tracks: one row per (condition, assembly, strand) naming a signal store folder.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signal_tracks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "condition_id",
            sa.Integer,
            sa.ForeignKey("conditions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "assembly_id",
            sa.Integer,
            sa.ForeignKey("assemblies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("strand", sa.String(1), nullable=False, server_default=""),
        sa.Column("path", sa.String(1024), nullable=False, unique=True),
        sa.Column("num_runs", sa.BigInteger, nullable=False),
        sa.Column("source_file", sa.String(1024)),
        sa.UniqueConstraint(
            "condition_id", "assembly_id", "strand", name="uq_signal_tracks_condition_strand"
        ),
    )


def downgrade() -> None:
    op.drop_table("signal_tracks")
