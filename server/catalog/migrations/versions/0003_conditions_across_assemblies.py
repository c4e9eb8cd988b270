"""Conditions across assemblies, and condition metadata as constraint columns.

- ``condition_parts`` (condition, assembly): where a condition has intervals; filled from
  each existing condition's one assembly.
- ``condition_metadata`` (condition, key, value_text, value_number): each condition's
  metadata JSON as rows, filled from ``conditions.metadata``. Keys no constraint could name
  (a built-in column's name, or a second key equal but for case) are left out here; ingest
  refuses them.
- ``conditions.assembly_id`` goes: a condition belongs to no single assembly. SQLite drops
  the column by copying the table (batch mode), with foreign keys off for the migration
  (``database.upgrade``) so that the copy does not cascade into ``intervals``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: The built-in constraint columns at this revision (metadata keys may not take these names).
_BUILT_IN = frozenset(
    [
        "assembly",
        "species",
        "chromosome",
        "chromosome_length",
        "condition",
        "start",
        "end",
        "length",
        "name",
        "score",
        "strand",
        "signal_value",
        "p_value",
        "q_value",
        "summit",
        "value",
    ]
)


def upgrade() -> None:
    parts = op.create_table(
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
    rows = op.create_table(
        "condition_metadata",
        sa.Column(
            "condition_id",
            sa.Integer,
            sa.ForeignKey("conditions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value_text", sa.Text),
        sa.Column("value_number", sa.Float),
    )
    op.create_index("ix_condition_metadata_key", "condition_metadata", ["key"])
    conditions = sa.table(
        "conditions", sa.column("id"), sa.column("assembly_id"), sa.column("metadata")
    )
    bind = op.get_bind()
    existing = bind.execute(
        sa.select(conditions.c.id, conditions.c.assembly_id, conditions.c.metadata)
    ).all()
    if existing:
        op.bulk_insert(parts, [{"condition_id": i, "assembly_id": a} for i, a, _ in existing])
        values = [row for i, _, text in existing for row in _metadata_rows(i, text)]
        if values:
            op.bulk_insert(rows, values)
    with op.batch_alter_table("conditions") as batch:
        batch.drop_column("assembly_id")


def _metadata_rows(condition_id: int, text: str | None) -> list[dict[str, Any]]:
    """The rows of one condition's metadata JSON (as ``catalog.condition_metadata`` makes)."""
    try:
        metadata = json.loads(text) if text else {}
    except ValueError:
        return []
    if not isinstance(metadata, dict):
        return []
    rows: dict[str, dict[str, Any]] = {}
    for key, value in metadata.items():
        column = str(key).lower()
        if not column.strip() or len(column) > 255 or column in _BUILT_IN or column in rows:
            continue
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        text_value = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        rows[column] = {
            "condition_id": condition_id,
            "key": column,
            "value_text": None if number else text_value,
            "value_number": float(value) if number else None,
        }
    return list(rows.values())


def downgrade() -> None:
    with op.batch_alter_table("conditions") as batch:
        batch.add_column(sa.Column("assembly_id", sa.Integer, nullable=True))
    op.execute(
        "UPDATE conditions SET assembly_id = (SELECT MIN(assembly_id) FROM condition_parts "
        "WHERE condition_parts.condition_id = conditions.id)"
    )
    op.drop_index("ix_condition_metadata_key", "condition_metadata")
    op.drop_table("condition_metadata")
    op.drop_table("condition_parts")
