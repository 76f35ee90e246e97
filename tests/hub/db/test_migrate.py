"""The Alembic migrations: a new database on either engine gets exactly the tables of
hub/db/tables.py; a database made by the numbered migrations (hub/schema.py and the
components') is converted and stamped, keeping its rows; upgrading twice changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.db.engine import database_url, make_engine
from hub.db.migrate import LEGACY_REVISION, head_revision, upgrade
from hub.db.tables import metadata
from hub.schema import HUB_MIGRATIONS, apply_migrations


def _differences(connection) -> list:
    context = MigrationContext.configure(
        connection,
        opts={"include_object": lambda o, n, t, r, c: not (t == "table" and n == "schema_version")},
    )
    return compare_metadata(context, metadata)


async def _upgrade_and_diff(url) -> tuple[str, list]:
    engine = make_engine(url)
    try:
        revision = await upgrade(engine)
        async with engine.connect() as conn:
            return revision, await conn.run_sync(_differences)
    finally:
        await engine.dispose()


async def test_a_new_database_gets_the_tables_on_both_engines(tmp_path: Path, db_url) -> None:
    url = database_url(tmp_path, db_url)
    revision, differences = await _upgrade_and_diff(url)
    assert revision == head_revision()
    assert differences == []
    again, _ = await _upgrade_and_diff(url)  # idempotent
    assert again == revision


async def test_a_database_of_the_numbered_migrations_is_converted_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.db"
    # as an older hub left it: the hub's own two migrations only, and a few rows
    async with aiosqlite.connect(path, isolation_level=None) as db:
        assert await apply_migrations(db, "hub", HUB_MIGRATIONS[:1]) == 1
        await db.execute(
            "INSERT INTO rejected (received_at, topic, reason, payload_size, payload_head)"
            " VALUES ('2026-01-01T08:00:01', 't', 'bad json', 3, 'x')"
        )
        await db.execute(
            "INSERT INTO events (id, site, device, kind, ts, received_at, topic, payload)"
            " VALUES ('e1', 's', 'd', 'heartbeat', 't0', 't0', 'anju/s/d', '{}')"
        )
    revision, differences = await _upgrade_and_diff(database_url(tmp_path))
    assert [d for d in differences if not _reflection_artefact(d)] == []
    assert revision == head_revision()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT id FROM events").fetchall() == [("e1",)]
        # migration 2 ran on the way: the old reject became a count
        assert db.execute("SELECT reason, minute, count FROM reject_counts").fetchall() == [
            ("legacy", "2026-01-01T08:00", 1)
        ]
        components = dict(
            db.execute("SELECT component, max(version) FROM schema_version GROUP BY component")
        )
        assert components == {"hub": 2, "retention": 1, "console": 2, "supervision": 1}
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() in (
            [(head_revision(),)],
            [(LEGACY_REVISION,)],
        )
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        for table in ("console_sessions", "face_encodings", "face_consents"):
            (fk,) = db.execute(f"PRAGMA foreign_key_list({table})").fetchall()
            assert fk[6] == "CASCADE"  # on_delete, as the new revision has it


def _reflection_artefact(difference) -> bool:
    """What comparing an old SQLite file reports but is the same schema: an old ``TEXT
    PRIMARY KEY`` (SQLite lets it be NULL unless said NOT NULL; the hub never stores one), and
    ``ON DELETE CASCADE`` written ``REFERENCES t (c)``, which SQLAlchemy's reflection does not
    parse (PRAGMA foreign_key_list shows it, checked above)."""
    item = difference[0] if isinstance(difference, list) else difference
    if item[0] == "modify_nullable":
        return metadata.tables[item[2]].c[item[3]].primary_key
    return item[0] in ("remove_fk", "add_fk") and item[1].table.name in (
        "console_sessions",
        "face_encodings",
        "face_consents",
    )


async def test_a_file_the_faces_store_made_alone_is_converted(tmp_path: Path) -> None:
    """The faces store creates its tables itself (CREATE TABLE IF NOT EXISTS) and may open
    the file before the hub does."""
    from hub.pedestrian_gate.store import SCHEMA

    with sqlite3.connect(tmp_path / "hub.db") as db:
        db.executescript(SCHEMA)
        db.execute("INSERT INTO face_sites (site, version) VALUES ('lakeside', 3)")
    revision, differences = await _upgrade_and_diff(database_url(tmp_path))
    assert revision == head_revision()
    assert [d for d in differences if not _reflection_artefact(d)] == []
    with sqlite3.connect(tmp_path / "hub.db") as db:
        assert db.execute("SELECT site, version FROM face_sites").fetchall() == [("lakeside", 3)]
