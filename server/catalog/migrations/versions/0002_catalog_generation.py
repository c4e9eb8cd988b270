"""Catalog generation: one row counting every add and remove (the plan cache's key).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    catalog_state = op.create_table(
        "catalog_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger, nullable=False, server_default="0"),
        sa.CheckConstraint("id = 1", name="ck_catalog_state_one_row"),
    )
    op.bulk_insert(catalog_state, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    op.drop_table("catalog_state")
