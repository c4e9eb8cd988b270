"""The conditions of a plan: names checked, conditions selected, presence per assembly.

- Every condition name a spec gives (``conditions=[...]``, or ``condition = 'x'`` /
  ``condition IN (...)`` in ``where``) must exist: a typo would otherwise give a dataset
  with a missing or all-zero label column, silently. NotFound names it with a did-you-mean.
- Condition terms (``Where.condition_terms``: ``condition`` and metadata keys) are
  evaluated once per condition, on the ``conditions`` table, to a list of condition ids;
  intervals are then restricted to those ids.
- Presence: on which of the plan's assemblies each label column has intervals
  (``catalog.parts``), what ``missing="mask"`` and Describe read.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from peaksql.core.errors import InvalidArgument, NotFound
from peaksql.server.catalog.queries import condition_names
from peaksql.server.catalog.schema import conditions
from peaksql.server.engine.constraint_sql import metadata_column
from peaksql.server.engine.constraints import Where

#: Names a did-you-mean suggests at most, per unknown name.
_SUGGESTIONS = 3


def condition_columns(where: Where, condition_id: ColumnElement[Any]) -> dict[str, Any]:
    """The per-condition columns ``where`` names, over the condition whose id is
    ``condition_id`` (for the constraint compiler's column map)."""
    columns: dict[str, Any] = {"condition": conditions.c.name}
    for key in where.metadata_columns:
        columns[key] = metadata_column(key, condition_id)
    return columns


def check_condition_names(connection: sa.Connection, names: Sequence[str], where: str) -> None:
    """NotFound naming each of ``names`` that is no condition, with a did-you-mean."""
    if not names:
        return
    found = set(
        connection.scalars(sa.select(conditions.c.name).where(conditions.c.name.in_(names)))
    )
    missing = [name for name in names if name not in found]
    if not missing:
        return
    known = condition_names(connection)
    problems = []
    for name in missing:
        close = difflib.get_close_matches(name, known, n=_SUGGESTIONS, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        problems.append(f"{name!r}{hint}")
    raise NotFound(
        f"unknown condition(s) in {where}: {', '.join(problems)} (the catalog has "
        f"{len(known)} conditions: see ListConditions or 'peaksql list')"
    )


def wanted_condition_ids(connection: sa.Connection, names: tuple[str, ...]) -> list[int]:
    """Ids of the named conditions (``spec.conditions``), in the order given."""
    if len(set(names)) != len(names):
        raise InvalidArgument("conditions lists a condition twice")
    return named_condition_ids(connection, names, "conditions")


def named_condition_ids(connection: sa.Connection, names: Sequence[str], where: str) -> list[int]:
    """Ids of ``names`` in the order given; NotFound (with a did-you-mean) for unknown ones,
    saying they came from ``where``."""
    check_condition_names(connection, names, where)
    found: dict[str, int] = dict(
        connection.execute(
            sa.select(conditions.c.name, conditions.c.id).where(conditions.c.name.in_(names))
        ).all()
    )
    return [found[name] for name in names]


def selected_condition_ids(connection: sa.Connection, where: Where) -> list[int] | None:
    """Ids of the conditions the condition terms select (None: no condition terms)."""
    clause = where.condition_clause(condition_columns(where, conditions.c.id))
    if clause is None:
        return None
    query = sa.select(conditions.c.id).where(clause).order_by(conditions.c.id)
    return [int(i) for i in connection.scalars(query)]


def combine(wanted: list[int] | None, selected: list[int] | None) -> list[int] | None:
    """The condition ids intervals may come from: both restrictions (None: no restriction)."""
    if wanted is None or selected is None:
        return selected if wanted is None else wanted
    chosen = set(selected)
    return [i for i in wanted if i in chosen]
