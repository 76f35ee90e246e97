"""Durable on-disk outbox: every event is committed to SQLite before it goes to MQTT.

paho keeps QoS 1 state only in memory, so a restart would lose anything unacknowledged. Rows
here are marked delivered only when the broker's PUBACK arrives; undelivered rows are sent again,
in ``seq`` order, after a restart. Only rows flagged ``droppable`` (heartbeats) may ever be
dropped, and every drop is counted; decisions and reads are never dropped.

The bound (``max_pending_bytes``, the site config's ``edges[].outbox_max_mb``) caps the
undelivered payload bytes: when a new row would pass it, the oldest undelivered heartbeats
are dropped first. When what is left is only plate reads, decisions, alarms and other events,
the new row is still written (the bound is then exceeded, counted in ``over_limit`` and
logged): losing an event would break the audit trail, and the gate keeps working either way;
the device's free disk is then the hard limit (docs/mqtt.md, "Edge outbox").

Thread-safe: one connection guarded by a lock; callers on an event loop use ``asyncio.to_thread``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
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
    max_pending_bytes: int = 512 * 1024 * 1024  # undelivered payload bytes (see above)


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    delivered: int
    dropped: int
    refused: int = 0
    oldest_age_s: float | None = None  # the oldest undelivered row's age
    over_limit: int = 0  # rows written beyond max_pending_bytes (nothing droppable was left)


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
        with self._lock:
            self._pending_bytes = self._count_pending_bytes()  # an upper estimate between counts

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
            self._pending_bytes += len(payload)
            if self._pending_bytes > self.limits.max_pending_bytes:
                self._make_room(len(payload), droppable)
            cur = self._db.execute(
                "INSERT INTO outbox (topic, payload, qos, retain, droppable, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (topic, payload, qos, int(retain), int(droppable), created),
            )
            seq = cur.lastrowid
        assert seq is not None
        return seq

    def add_many(
        self, rows: Sequence[tuple[str, bytes, bool]], *, qos: int = 1, now: float | None = None
    ) -> list[int]:
        """Commit several messages (topic, payload, droppable) in one transaction, in order;
        returns their sequence numbers. Durable on return, like ``add``."""
        created = time.time() if now is None else now
        seqs: list[int] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for topic, payload, droppable in rows:
                    self._pending_bytes += len(payload)
                    if self._pending_bytes > self.limits.max_pending_bytes:
                        self._make_room(len(payload), droppable)
                    cur = self._db.execute(
                        "INSERT INTO outbox (topic, payload, qos, retain, droppable, created)"
                        " VALUES (?, ?, ?, 0, ?, ?)",
                        (topic, payload, qos, int(droppable), created),
                    )
                    assert cur.lastrowid is not None
                    seqs.append(cur.lastrowid)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return seqs

    def _count_pending_bytes(self) -> int:
        (total,) = self._db.execute(
            "SELECT COALESCE(SUM(length(payload)), 0) FROM outbox WHERE delivered_at IS NULL"
        ).fetchone()
        return int(total)

    def _make_room(self, size: int, droppable: bool) -> None:
        """Over the bound (counted exactly now): drop the oldest undelivered heartbeats until
        ``size`` more bytes fit; if only events are left, count the row as over the limit."""
        limit = self.limits.max_pending_bytes
        self._pending_bytes = self._count_pending_bytes() + size
        dropped = 0
        while self._pending_bytes > limit:
            rows = self._db.execute(
                "SELECT seq, length(payload) FROM outbox WHERE delivered_at IS NULL"
                " AND droppable = 1 ORDER BY seq LIMIT 100"
            ).fetchall()
            if not rows:
                break
            for seq, length in rows:
                if self._pending_bytes <= limit:
                    break
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                self._pending_bytes -= length
                dropped += 1
        if dropped:
            self._bump("dropped", dropped)
        if self._pending_bytes > limit:
            self._bump("over_limit", 1)

    def _bump(self, name: str, by: int) -> None:
        self._db.execute(
            "INSERT INTO outbox_counters (name, value) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, by),
        )

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

    def stats(self, now: float | None = None) -> OutboxStats:
        with self._lock:
            pending, delivered, refused = self._db.execute(
                "SELECT COALESCE(SUM(delivered_at IS NULL), 0),"
                " COALESCE(SUM(delivered_at IS NOT NULL AND refusal IS NULL), 0),"
                " COALESCE(SUM(refusal IS NOT NULL), 0) FROM outbox"
            ).fetchone()
            dropped = self._counter("dropped")
            over = self._counter("over_limit")
            oldest = self._oldest_created()
        now = time.time() if now is None else now
        age = None if oldest is None else max(now - oldest, 0.0)
        return OutboxStats(pending, delivered, dropped, refused, age, over)

    def depth(self, now: float | None = None) -> tuple[int, float | None, int]:
        """Cheap figures for the heartbeat: undelivered rows, the oldest one's age (s),
        heartbeats dropped ever."""
        with self._lock:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL"
            ).fetchone()
            oldest = self._oldest_created()
            dropped = self._counter("dropped")
        now = time.time() if now is None else now
        return int(count), None if oldest is None else max(now - oldest, 0.0), dropped

    def _oldest_created(self) -> float | None:
        row = self._db.execute(
            "SELECT created FROM outbox WHERE delivered_at IS NULL ORDER BY seq LIMIT 1"
        ).fetchone()
        return None if row is None else float(row[0])

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
                    self._bump("dropped", dropped)
                self._db.execute("COMMIT")
                self._pending_bytes = self._count_pending_bytes()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return dropped

    def _counter(self, name: str) -> int:
        row = self._db.execute(
            "SELECT value FROM outbox_counters WHERE name = ?", (name,)
        ).fetchone()
        return row[0] if row else 0
