"""The edge's own durable state besides the outbox: the cached vehicle lists (with the hub's
issue time, which orders them) and the ids of commands already handled (the nonces: a
redelivered or replayed command is never acted on twice, even after a restart). SQLite,
thread-safe; callers on an event loop use ``asyncio.to_thread``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from models.messages import AckResult, VehicleList

SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    name    TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body    TEXT    NOT NULL,
    saved   REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    id      TEXT PRIMARY KEY,
    result  TEXT NOT NULL,
    detail  TEXT NOT NULL,
    handled REAL NOT NULL
);
"""

VEHICLES = "vehicles"


class EdgeStore:
    def __init__(self, path: Path | str, *, keep_commands_s: float = 30 * 24 * 3600) -> None:
        self.path = Path(path)
        self.keep_commands_s = keep_commands_s
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(lists)")}
        if "issued" not in columns:  # a store from before signed lists: order by issue time
            self._db.execute("ALTER TABLE lists ADD COLUMN issued REAL NOT NULL DEFAULT 0")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ vehicle lists

    def load_vehicle_list(self) -> VehicleList | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM lists WHERE name = ?", (VEHICLES,)).fetchone()
        return VehicleList.model_validate_json(row[0]) if row else None

    def vehicle_list_issued(self) -> datetime | None:
        """When the hub issued the cached list (None: none cached, or cached before signing)."""
        with self._lock:
            row = self._db.execute(
                "SELECT issued FROM lists WHERE name = ?", (VEHICLES,)
            ).fetchone()
        return datetime.fromtimestamp(row[0], UTC) if row and row[0] else None

    def save_vehicle_list(self, lists: VehicleList, issued: datetime) -> bool:
        """Store ``lists`` if the hub issued it after the cached one (never by ``version``:
        a forged huge version must not freeze the edge); True when it was stored."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO lists (name, version, body, saved, issued) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET version = excluded.version,"
                " body = excluded.body, saved = excluded.saved, issued = excluded.issued"
                " WHERE excluded.issued > lists.issued",
                (VEHICLES, lists.version, lists.model_dump_json(), time.time(), issued.timestamp()),
            )
        return cur.rowcount == 1

    # ------------------------------------------------------------------ commands

    def command_result(self, command_id: str) -> tuple[AckResult, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT result, detail FROM commands WHERE id = ?", (command_id,)
            ).fetchone()
        return (AckResult(row[0]), row[1]) if row else None

    def record_command(self, command_id: str, result: AckResult, detail: str = "") -> bool:
        """Record a handled command; False when the id was already recorded (do not act)."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "DELETE FROM commands WHERE handled < ?", (now - self.keep_commands_s,)
            )
            cur = self._db.execute(
                "INSERT OR IGNORE INTO commands (id, result, detail, handled) VALUES (?, ?, ?, ?)",
                (command_id, result.value, detail, now),
            )
        return cur.rowcount == 1
