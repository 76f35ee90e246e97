"""Durable on-disk outbox: every event is committed to SQLite before it goes to MQTT.

paho keeps QoS 1 state only in memory, so a restart would lose anything unacknowledged. Rows
here are marked delivered only when the broker's PUBACK arrives; undelivered rows are sent again,
in ``seq`` order, after a restart. Only rows flagged ``droppable`` (heartbeats) may ever be
dropped, and every drop is counted; decisions and reads are never dropped.

Thread-safe: one connection guarded by a lock; callers on an event loop use ``asyncio.to_thread``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    topic        TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    qos          INTEGER NOT NULL,
    retain       INTEGER NOT NULL,
    droppable    INTEGER NOT NULL,
    created      REAL    NOT NULL,
    delivered_at REAL,  -- settled: the broker answered (PUBACK)
    refusal      TEXT   -- MQTT 5 only: the broker's PUBACK refused it (e.g. "Not authorized")
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(seq) WHERE delivered_at IS NULL;
CREATE TABLE IF NOT EXISTS outbox_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    droppable: bool
    created: float


@dataclass(frozen=True, slots=True)
class OutboxLimits:
    droppable_max_pending: int = 20  # heartbeats kept while the link is down (newest win)
    droppable_max_age_s: float = 3600.0
    keep_delivered_s: float = 24 * 3600.0  # delivered rows kept this long for diagnosis


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    delivered: int
    dropped: int
    refused: int = 0


class Outbox:
    def __init__(self, path: Path | str, limits: OutboxLimits = OutboxLimits()) -> None:
        self.path = Path(path)
        self.limits = limits
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed event survives a power cut, not only a process crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "refusal" not in columns:  # an outbox written by an older agent
            self._db.execute("ALTER TABLE outbox ADD COLUMN refusal TEXT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        droppable: bool = False,
        now: float | None = None,
    ) -> int:
        """Commit one message; returns its sequence number (the send order)."""
        created = time.time() if now is None else now
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO outbox (topic, payload, qos, retain, droppable, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (topic, payload, qos, int(retain), int(droppable), created),
            )
            seq = cur.lastrowid
        assert seq is not None
        return seq

    def pending(self, after: int = 0, limit: int = 100) -> list[OutboxRow]:
        """Undelivered rows with ``seq > after``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, qos, retain, droppable, created FROM outbox"
                " WHERE delivered_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [
            OutboxRow(seq, topic, bytes(payload), qos, bool(retain), bool(droppable), created)
            for seq, topic, payload, qos, retain, droppable, created in rows
        ]

    def mark_delivered(self, seqs: Iterable[int], now: float | None = None) -> None:
        """Called only for rows whose PUBACK arrived."""
        at = time.time() if now is None else now
        batch = [(at, s) for s in seqs]
        if not batch:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE outbox SET delivered_at = ? WHERE seq = ? AND delivered_at IS NULL", batch
            )
            self._db.execute("COMMIT")

    def mark_refused(self, seq: int, reason: str, now: float | None = None) -> None:
        """The broker answered with a failure (MQTT 5 PUBACK reason code, e.g. an ACL denial):
        settled, never re-sent (it would be refused again), kept and counted for diagnosis."""
        at = time.time() if now is None else now
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET delivered_at = ?, refusal = ? WHERE seq = ?"
                " AND delivered_at IS NULL",
                (at, reason[:200], seq),
            )

    def refused(self, limit: int = 100) -> list[tuple[int, str, str]]:
        """The most recent refused rows: (seq, topic, reason)."""
        with self._lock:
            return self._db.execute(
                "SELECT seq, topic, refusal FROM outbox WHERE refusal IS NOT NULL"
                " ORDER BY seq DESC LIMIT ?",
                (limit,),
            ).fetchall()

    def pending_count(self) -> int:
        with self._lock:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL"
            ).fetchone()
        return int(count)

    def stats(self) -> OutboxStats:
        with self._lock:
            pending, delivered, refused = self._db.execute(
                "SELECT COALESCE(SUM(delivered_at IS NULL), 0),"
                " COALESCE(SUM(delivered_at IS NOT NULL AND refusal IS NULL), 0),"
                " COALESCE(SUM(refusal IS NOT NULL), 0) FROM outbox"
            ).fetchone()
            dropped = self._counter("dropped")
        return OutboxStats(pending, delivered, dropped, refused)

    def prune(self, now: float | None = None) -> int:
        """Apply the bounds; returns how many undelivered (droppable) rows were dropped."""
        now = time.time() if now is None else now
        lim = self.limits
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                old = self._db.execute(
                    "DELETE FROM outbox WHERE delivered_at IS NULL AND droppable = 1"
                    " AND created < ?",
                    (now - lim.droppable_max_age_s,),
                ).rowcount
                excess = self._db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox"
                    " WHERE delivered_at IS NULL AND droppable = 1"
                    " ORDER BY seq DESC LIMIT -1 OFFSET ?)",
                    (lim.droppable_max_pending,),
                ).rowcount
                self._db.execute(
                    "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?",
                    (now - lim.keep_delivered_s,),
                )
                dropped = old + excess
                if dropped:
                    self._db.execute(
                        "INSERT INTO outbox_counters (name, value) VALUES ('dropped', ?)"
                        " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                        (dropped,),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return dropped

    def _counter(self, name: str) -> int:
        row = self._db.execute(
            "SELECT value FROM outbox_counters WHERE name = ?", (name,)
        ).fetchone()
        return row[0] if row else 0
