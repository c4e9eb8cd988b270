"""What a constraint's interval terms mean for signal label columns (``signal_columns``).

- Condition terms (``condition``, metadata keys: ``Where.condition_terms``) choose signal
  columns as they choose interval label columns, resolved by the same SQL
  (``plan_conditions.selected_condition_ids``). Without ``conditions=``, a signal plan's
  columns are the signal tracks of the conditions they select (every signal track when there
  are none; no track selected is an error, not a dataset without columns). With
  ``conditions=`` the columns are those named, and one whose condition the terms leave out
  has no data (as an interval column gets no intervals): gaps under ``signal_gaps``.
- Label terms (``p_value > 5``, ``name LIKE 'CTCF%'``, ``start < 1000``: every other interval
  term) select intervals. A bigWig or bedGraph track holds runs of values, not intervals with
  those columns, so a plan with such a column refuses them (InvalidArgument naming the term)
  rather than ignore them. An interval condition served as signal (narrowPeak
  ``signal_value``, bedGraph ``value``) is intervals: the terms select which of its intervals
  give values, as they select an interval column's intervals (``store_filter``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlglot import exp

from peaksql.core.errors import InvalidArgument
from peaksql.server.catalog.columns import BY_NAME, CONDITION_COLUMNS, INTERVAL_COLUMNS
from peaksql.server.catalog.interval_store import Part
from peaksql.server.engine.constraints import Where
from peaksql.server.engine.plan_conditions import selected_condition_ids
from peaksql.server.engine.store_filter import select
from peaksql.server.engine.store_rows import Chromosomes, PartRow, part_columns


def selected_tracks(
    connection: sa.Connection, where: Where, named: bool, rows: Sequence[Any]
) -> set[int] | None:
    """Ids of the conditions whose signal the condition terms select (None: no condition
    terms). ``named``: the spec names its columns (``conditions=``); otherwise ``rows`` (the
    catalog's signal tracks, with ``condition_id``) must keep at least one."""
    if not where.condition_terms:
        return None
    chosen = set(selected_condition_ids(connection, where) or ())
    if not named and rows and not any(row.condition_id in chosen for row in rows):
        terms = " AND ".join(term.sql() for term in where.condition_terms)
        raise InvalidArgument(
            f"the constraint's condition terms ({terms}) select no signal track, so the "
            "dataset would have no label column: label='signal' without conditions= labels "
            "with signal tracks; name interval conditions in conditions= to serve their "
            "signal_value or value as signal"
        )
    return chosen


def refuse_label_terms(where: Where, tracks: Sequence[str]) -> None:
    """InvalidArgument naming the first label term when the plan has track columns."""
    if not where.label_terms or not tracks:
        return
    term = where.label_terms[0]
    names = sorted({c.name for c in term.find_all(exp.Column)} - set(CONDITION_COLUMNS))
    built_in = [name for name in names if name in BY_NAME]
    by = [name for name in built_in if name in INTERVAL_COLUMNS] or built_in
    shown = ", ".join(tracks[:5]) + (f", ... ({len(tracks)} in all)" if len(tracks) > 5 else "")
    raise InvalidArgument(
        f"the constraint term {term.sql()!r} selects intervals (by {', '.join(by)}); it "
        f"cannot restrict the labels of the signal tracks {shown}, which hold runs of values, "
        "not intervals (bigWig, bedGraph). Choose tracks with condition or metadata terms "
        "(condition = '...', or a metadata key), or drop the term"
    )


def kept_intervals(where: Where, part: Part, row: PartRow, table: Chromosomes) -> np.ndarray:
    """Bool per interval of ``part``: whether the label terms keep it (all, without terms)."""
    chosen = select(where.label_terms, part_columns(part, row, table))
    if chosen is None:
        return np.zeros(part.num_intervals, dtype=bool)
    return np.broadcast_to(chosen, (part.num_intervals,))
