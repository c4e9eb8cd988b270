"""The catalog generation: a counter every add and remove bumps in its own transaction.

Plans are cached per generation, so a server learns that the catalog changed with one
primary-key SELECT instead of fingerprinting the tables. The bump is an UPDATE of the one
``catalog_state`` row inside the writer's transaction: readers see the new generation exactly
when they see the new rows, and a removal followed by an add of the same size still counts
two changes. On PostgreSQL the UPDATE holds the row until commit, so concurrent writers
serialise only for the moment between their bump and their commit; call it last.
"""

from __future__ import annotations

import sqlalchemy as sa

from peaksql.server.catalog.schema import CATALOG_STATE_ID, catalog_state

_ROW = catalog_state.c.id == CATALOG_STATE_ID


def bump_generation(connection: sa.Connection) -> int:
    """Add one to the generation inside ``connection``'s transaction; returns the new value."""
    bumped = connection.execute(
        catalog_state.update()
        .where(_ROW)
        .values(generation=catalog_state.c.generation + 1)
        .returning(catalog_state.c.generation)
    ).scalar()
    if bumped is None:  # the row was deleted by hand: start again above any reader's cache
        connection.execute(catalog_state.insert().values(id=CATALOG_STATE_ID, generation=1))
        return 1
    return int(bumped)


def read_generation(database: sa.Engine) -> int:
    """The committed generation (0 for a catalog never written since migration 0002)."""
    with database.connect() as connection:
        value = connection.scalar(sa.select(catalog_state.c.generation).where(_ROW))
    return int(value or 0)
