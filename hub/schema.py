"""The hub's SQLite schema as numbered migrations, and a migrator other modules can share.

Each component (``hub`` here; e.g. ``faces`` later) owns its own numbered list of
migrations and records what it applied in ``schema_version``; applying is idempotent
and each migration is atomic.
"""

from __future__ import annotations

import aiosqlite

SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    component  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (component, version)
)
"""

# Timestamps are ISO 8601 strings in UTC (they sort as text); JSON columns are TEXT.
HUB_MIGRATIONS: list[str] = [
    # 1: events, rejects, devices, violations, commands, audit, sync lists, counters
    """
    CREATE TABLE events (
        id          TEXT PRIMARY KEY,          -- the envelope id: de-duplication key
        site        TEXT NOT NULL,
        device      TEXT NOT NULL,
        kind        TEXT NOT NULL,
        ts          TEXT NOT NULL,             -- the device's timestamp
        received_at TEXT NOT NULL,             -- the hub's clock
        topic       TEXT NOT NULL,
        retained    INTEGER NOT NULL DEFAULT 0,
        gate        TEXT,
        plate       TEXT,
        subject     TEXT,                      -- plate / person / slot / command id / alarm type
        decision    TEXT,
        payload     TEXT NOT NULL              -- the envelope's payload as JSON
    );
    CREATE INDEX events_site_ts ON events (site, ts);
    CREATE INDEX events_kind_ts ON events (kind, ts);
    CREATE INDEX events_gate_ts ON events (gate, ts) WHERE gate IS NOT NULL;
    CREATE INDEX events_plate ON events (plate) WHERE plate IS NOT NULL;
    CREATE INDEX events_device_ts ON events (site, device, ts);

    CREATE TABLE rejected (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at  TEXT NOT NULL,
        topic        TEXT NOT NULL,
        reason       TEXT NOT NULL,
        payload_size INTEGER NOT NULL,
        payload_head TEXT NOT NULL
    );

    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE devices (
        site           TEXT NOT NULL,
        device         TEXT NOT NULL,
        online         INTEGER,                -- NULL: never heard from
        last_seen      TEXT,
        last_heartbeat TEXT,
        offline_since  TEXT,                   -- when it reported itself offline (LWT)
        status_reason  TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (site, device)
    );

    CREATE TABLE violations (
        id         TEXT PRIMARY KEY,
        site       TEXT NOT NULL,
        type       TEXT NOT NULL,
        category   TEXT NOT NULL,              -- security | service (counts against company)
        severity   TEXT NOT NULL,
        subject    TEXT NOT NULL,
        gate       TEXT,
        device     TEXT,
        company    TEXT NOT NULL,              -- the responsible property company id
        opened_at  TEXT NOT NULL,
        status     TEXT NOT NULL DEFAULT 'open',
        closed_at  TEXT,
        detail     TEXT NOT NULL DEFAULT '',
        resolution TEXT,
        evidence   TEXT NOT NULL DEFAULT '[]', -- JSON list of source event ids
        open_key   TEXT                        -- at most one open violation per key
    );
    CREATE UNIQUE INDEX violations_one_open ON violations (open_key)
        WHERE status = 'open' AND open_key IS NOT NULL;
    CREATE INDEX violations_site_opened ON violations (site, opened_at);
    CREATE INDEX violations_status ON violations (status, type);

    CREATE TABLE commands (
        id         TEXT PRIMARY KEY,           -- the GateCommand envelope id
        site       TEXT NOT NULL,
        device     TEXT NOT NULL,
        gate       TEXT NOT NULL,
        action     TEXT NOT NULL,
        reason     TEXT NOT NULL,
        operator   TEXT NOT NULL,
        sent_at    TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        status     TEXT NOT NULL,              -- sent | acknowledged | failed | timeout
        ack_result TEXT,
        ack_detail TEXT,
        acked_at   TEXT
    );
    CREATE INDEX commands_sent ON commands (site, sent_at);

    CREATE TABLE audit_log (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at     TEXT NOT NULL,
        actor  TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        before TEXT,                           -- JSON or NULL
        after  TEXT                            -- JSON or NULL
    );
    CREATE INDEX audit_target ON audit_log (target, at);

    CREATE TABLE sync_lists (
        site       TEXT NOT NULL,
        name       TEXT NOT NULL,              -- vehicles, faces, ...
        version    INTEGER NOT NULL,
        digest     TEXT NOT NULL,              -- sha256 of the list content
        updated_at TEXT NOT NULL,
        PRIMARY KEY (site, name)
    );
    """,
    # 2: every reject counted per (site, device, reason code, minute) (hub/rejects.py); the
    # rejects of earlier versions are carried over as reason 'legacy' (their device unknown)
    """
    CREATE TABLE reject_counts (
        site   TEXT NOT NULL,
        device TEXT NOT NULL,
        reason TEXT NOT NULL,                  -- a code of hub.rejects.REASON_CODES
        minute TEXT NOT NULL,                  -- UTC, 'YYYY-MM-DDTHH:MM'
        count  INTEGER NOT NULL,
        PRIMARY KEY (site, device, reason, minute)
    );
    CREATE INDEX reject_counts_minute ON reject_counts (minute);
    INSERT INTO reject_counts (site, device, reason, minute, count)
        SELECT '?', '?', 'legacy', substr(received_at, 1, 16), count(*)
        FROM rejected GROUP BY substr(received_at, 1, 16);
    INSERT INTO reject_counts (site, device, reason, minute, count)
        SELECT '?', '?', 'legacy_unstored', '0000-00-00T00:00', value
        FROM counters WHERE name = 'rejected_unstored' AND value > 0;
    """,
]


async def applied_version(db: aiosqlite.Connection, component: str) -> int:
    await db.execute(SCHEMA_VERSION_TABLE)
    async with db.execute(
        "SELECT coalesce(max(version), 0) FROM schema_version WHERE component = ?", (component,)
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def apply_migrations(db: aiosqlite.Connection, component: str, migrations: list[str]) -> int:
    """Apply the not-yet-applied migrations of ``component``, each atomically; return version.

    ``db`` must be in autocommit mode (isolation_level=None) and outside a transaction.
    """
    if not component.isidentifier():
        raise ValueError(f"component {component!r} must be an identifier")
    current = await applied_version(db, component)
    for number, sql in enumerate(migrations, start=1):
        if number <= current:
            continue
        # executescript runs the whole migration and its bookkeeping as one transaction
        try:
            await db.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\n;"
                f"INSERT INTO schema_version (component, version) VALUES ('{component}', {number});"
                "\nCOMMIT;"
            )
        except Exception:
            if db.in_transaction:
                await db.rollback()
            raise
        current = number
    return current
