"""Alembic migrations of the case store (run by storage.migrate)."""
