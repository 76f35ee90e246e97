"""Alembic migrations of the hub's database (env.py, versions/)."""
