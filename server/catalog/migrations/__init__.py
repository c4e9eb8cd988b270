"""Alembic migrations, driven from code (no alembic.ini): see ``catalog.database``."""
