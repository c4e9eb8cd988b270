"""Alembic migrations, driven from code (no alembic.ini): see ``peaksql.server.db.engine``."""
