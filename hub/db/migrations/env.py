"""Alembic's environment for the hub's migrations: run on the connection ``hub.db.migrate``
hands over (``config.attributes["connection"]``), against ``hub.db.tables.metadata``."""

from __future__ import annotations

from alembic import context

from hub.db.tables import metadata

IGNORED_TABLES = {"schema_version"}  # the numbered migrations' bookkeeping (hub/schema.py)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "table" and name in IGNORED_TABLES)


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
