"""Interval store: the ``parts`` table (one row per condition and assembly's stored files).

``parts`` becomes the one table of (condition, assembly) presence: ``condition_parts``
(revision 0003) is dropped; a catalog's presence comes back as its interval rows are
converted into parts (one per condition and assembly).

Interval rows of an older catalog are converted into parts by ``store_migration``, which
needs the data dir and so runs from ``open_database(..., data_dir=...)`` / ``peaksql
migrate``, not from this revision.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parts",
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
        sa.Column("path", sa.String(255), nullable=False, unique=True),
        sa.Column("num_intervals", sa.BigInteger, nullable=False),
        sa.Column("source_file", sa.String(1024)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_index("ix_parts_condition_assembly", "parts", ["condition_id", "assembly_id"])
    op.drop_table("condition_parts")


def downgrade() -> None:
    op.create_table(
        "condition_parts",
        sa.Column(
            "condition_id",
            sa.Integer,
            sa.ForeignKey("conditions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "assembly_id",
            sa.Integer,
            sa.ForeignKey("assemblies.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.execute(
        "INSERT INTO condition_parts (condition_id, assembly_id) "
        "SELECT DISTINCT condition_id, assembly_id FROM parts"
    )
    op.drop_index("ix_parts_condition_assembly", "parts")
    op.drop_table("parts")
