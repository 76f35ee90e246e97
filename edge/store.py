"""The edge's own durable state besides the outbox: the cached vehicle lists and the ids of
commands already handled (so a redelivered command is never acted on twice, even after a
restart). SQLite, thread-safe; callers on an event loop use ``asyncio.to_thread``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
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

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ vehicle lists

    def load_vehicle_list(self) -> VehicleList | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM lists WHERE name = ?", (VEHICLES,)).fetchone()
        return VehicleList.model_validate_json(row[0]) if row else None

    def save_vehicle_list(self, lists: VehicleList) -> bool:
        """Store ``lists`` if it is newer than the cached one; True when it was stored."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO lists (name, version, body, saved) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET version = excluded.version,"
                " body = excluded.body, saved = excluded.saved"
                " WHERE excluded.version > lists.version",
                (VEHICLES, lists.version, lists.model_dump_json(), time.time()),
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
