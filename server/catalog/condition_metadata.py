"""Condition metadata as rows: the JSON object given at ingest, one (key, value) row per key.

``conditions.metadata`` keeps the JSON text as given (what listings show);
``condition_metadata`` holds it as rows so that a constraint can name a key as a column
(``tissue = 'liver'``) and compile to an indexed join with bound parameters on every
backend. Keys are matched by their lowercase (the constraint language lowercases column
names), so a key may not collide, case aside, with a built-in column or another key.

Values: a string goes to ``value_text``, a number to ``value_number``; ``true``/``false``,
lists and objects to ``value_text`` as their JSON text; ``null`` stores no row (the key then
reads as NULL, like a condition without it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from peaksql.core.errors import InvalidArgument
from peaksql.server.catalog.columns import BY_NAME
from peaksql.server.catalog.schema import MAX_METADATA_KEY, condition_metadata

#: (key, value_text, value_number) of one row.
MetadataRow = tuple[str, str | None, float | None]


def metadata_rows(metadata: Mapping[str, Any]) -> list[MetadataRow]:
    """The rows of one condition's metadata; InvalidArgument for a key no constraint could
    name (empty, too long, a built-in column, or two keys equal but for case)."""
    rows: list[MetadataRow] = []
    seen: dict[str, str] = {}
    for key, value in metadata.items():
        column = _column_name(key)
        if column in seen:
            raise InvalidArgument(
                f"metadata keys {seen[column]!r} and {key!r} differ only by case: a constraint "
                "names columns case-insensitively, so keep one of them"
            )
        seen[column] = key
        if value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            rows.append((column, None, float(value)))
        elif isinstance(value, str):
            rows.append((column, value, None))
        else:
            rows.append((column, json.dumps(value, sort_keys=True), None))
    return rows


def _column_name(key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgument(f"metadata key {key!r}: a key must be a non-empty string")
    if len(key) > MAX_METADATA_KEY:
        raise InvalidArgument(
            f"metadata key {key[:40]!r}... is {len(key)} characters long "
            f"(at most {MAX_METADATA_KEY})"
        )
    column = key.lower()
    if column in BY_NAME:
        raise InvalidArgument(
            f"metadata key {key!r} is the name of a built-in constraint column ({column}: "
            f"{BY_NAME[column].doc}); rename it (e.g. {f'{column}_label'!r}) so that "
            "constraints can tell them apart"
        )
    return column


def replace_metadata_rows(
    connection: sa.Connection, condition_id: int, metadata: Mapping[str, Any]
) -> None:
    """Make ``condition_metadata`` hold exactly ``metadata`` for the condition."""
    rows = metadata_rows(metadata)
    connection.execute(
        condition_metadata.delete().where(condition_metadata.c.condition_id == condition_id)
    )
    if rows:
        connection.execute(
            condition_metadata.insert(),
            [
                {"condition_id": condition_id, "key": k, "value_text": t, "value_number": n}
                for k, t, n in rows
            ],
        )


def metadata_keys(connection: sa.Connection) -> frozenset[str]:
    """Every metadata key the catalog holds (lowercase): the metadata constraint columns."""
    query = sa.select(condition_metadata.c.key).distinct()
    return frozenset(connection.scalars(query))
