"""Bring a database to the newest schema with the Alembic migrations shipped in the package.

``await upgrade(engine)`` is what the hub, the console's account command, the report and
retention do on open; it is idempotent. Concurrent openers are serialised (SQLite: the write
lock of ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock).

Databases made before Alembic (hub/schema.py's numbered migrations, per component, in
``schema_version``; or only the faces store's ``CREATE TABLE IF NOT EXISTS``) are converted:
each component's remaining numbered migrations are applied, which gives exactly the schema
of the first Alembic revision (``LEGACY_REVISION``), and the database is stamped with it;
later revisions then apply as on any database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.engine import sqlite_path

MIGRATIONS = Path(__file__).parent / "migrations"
LEGACY_REVISION = "0001"  # the schema hub/schema.py and the components' migrations built
_LEGACY_TABLES = {"schema_version", "face_sites", "face_persons"}
_ADVISORY_LOCK = 0x616E6A75  # "anju": one schema migration at a time on PostgreSQL


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(engine: AsyncEngine) -> str:
    """Migrate to the newest revision; returns it."""
    path = sqlite_path(engine.url)
    if path is not None and path.exists():
        await convert_legacy(path)
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(select(func.pg_advisory_xact_lock(_ADVISORY_LOCK)))
        await conn.run_sync(_upgrade)
        return await conn.run_sync(current_revision)


def _upgrade(connection: Connection) -> None:
    config = alembic_config(connection)
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" not in tables and tables & _LEGACY_TABLES:  # converted just before
        command.stamp(config, LEGACY_REVISION)
    command.upgrade(config, "head")


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def convert_legacy(path: Path) -> bool:
    """Finish a pre-Alembic SQLite database's numbered migrations; True if it was one."""
    with sqlite3.connect(path) as probe:
        names = {r[0] for r in probe.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    probe.close()
    # a file made by the numbered migrations, or by the faces store alone (hub/pedestrian_gate)
    if "alembic_version" in names or not names & _LEGACY_TABLES:
        return False
    # the numbered migrations live with their legacy modules (imported here, not at the top:
    # those modules import the store, which imports this module)
    from hub.console.users import CONSOLE_MIGRATIONS
    from hub.pedestrian_gate.store import SCHEMA as FACES_SCHEMA
    from hub.schema import HUB_MIGRATIONS, apply_migrations
    from hub.store import RETENTION_MIGRATIONS
    from hub.supervision.repo import SUPERVISION_MIGRATIONS

    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA busy_timeout=5000")
        for component, migrations in (
            ("hub", HUB_MIGRATIONS),
            ("retention", RETENTION_MIGRATIONS),
            ("console", CONSOLE_MIGRATIONS),
            ("supervision", SUPERVISION_MIGRATIONS),
        ):
            await apply_migrations(db, component, migrations)
        await db.executescript(f"BEGIN IMMEDIATE;\n{FACES_SCHEMA}\nCOMMIT;")
    return True
