"""Durable storage for the hub: SQLite in WAL mode through aiosqlite.

One writer connection (every change goes through ``transaction()``, serialised by a
lock, so a batch and a gate command never interleave inside one transaction) and one
reader connection (WAL readers see only committed data and never block the writer).

The methods are the storage interface the hub uses; a PostgreSQL (asyncpg) store can
implement the same methods later. Other hub modules may add their own tables to the
same database with ``apply_migrations(component, migrations)``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from hub.rejects import minute_of
from hub.rules import DeviceSeen, OpenViolation, ResolveViolation
from hub.schema import HUB_MIGRATIONS, apply_migrations
from hub.validate import Accepted, Rejected
from models.messages import (
    Alarm,
    CommandAck,
    Credential,
    FaceMatch,
    GateDecision,
    PlateRead,
    SlotState,
    new_id,
)

log = logging.getLogger(__name__)

DB_NAME = "hub.db"
_IN_CHUNK = 500  # ids per "IN (...)" query, well under SQLite's variable limit

# Retention (hub/retention/): when an event's evidence snapshots were purged. Applied by the
# retention methods on first use, so a hub that never purges keeps the plain hub schema.
RETENTION_MIGRATIONS: list[str] = ["ALTER TABLE events ADD COLUMN evidence_purged_at TEXT"]
# Event ids some violation names as its evidence (the set is small: violations are rare).
_VIOLATION_EVIDENCE = "SELECT j.value FROM violations v, json_each(v.evidence) j"


def iso(when: datetime) -> str:
    """One sortable text form for every stored time: ISO 8601 in UTC."""
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True)
class DeviceUpdate:
    """What one batch learned about a device (the newest facts win)."""

    site: str
    device: str
    online: bool
    last_seen: datetime | None
    last_heartbeat: datetime | None = None
    offline_since: datetime | None = None
    reason: str = ""


def event_columns(accepted: Accepted) -> tuple[Any, ...]:
    """The row for ``events``: envelope fields plus the indexed columns queries need."""
    msg = accepted.message
    payload = msg.payload  # type: ignore[attr-defined]
    gate = getattr(payload, "gate", None)
    plate = subject = decision = None
    if isinstance(payload, PlateRead):
        plate = subject = payload.plate
    elif isinstance(payload, GateDecision):
        subject, decision = payload.subject, payload.decision.value
        plate = payload.subject if payload.credential is Credential.PLATE else None
    elif isinstance(payload, FaceMatch):
        subject = payload.person
    elif isinstance(payload, SlotState):
        subject, plate = payload.slot, payload.plate
    elif isinstance(payload, CommandAck):
        subject = payload.command_id
    elif isinstance(payload, Alarm):
        subject = payload.type.value
    return (
        msg.id,
        msg.site,
        msg.device,
        msg.kind,  # type: ignore[attr-defined]
        iso(msg.ts),
        iso(accepted.received_at),
        accepted.topic,
        int(accepted.retained),
        gate,
        plate,
        subject,
        decision,
        payload.model_dump_json(),
    )


class HubStore(Protocol):
    """What the hub's recorder and service need from storage. ``Store`` (SQLite) implements
    it; a PostgreSQL (asyncpg) store would implement the same methods. Writes happen
    inside ``transaction()``; ``*_in_tx`` reads see the current transaction's writes."""

    path: Path

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...
    async def close(self) -> None: ...
    async def insert_events(self, items: Sequence[Accepted]) -> list[Accepted]: ...
    async def insert_rejected(self, items: Iterable[Rejected]) -> None: ...
    async def add_reject_counts(self, counts: Mapping[tuple[str, str, str, str], int]) -> None: ...
    async def bump_counter(self, name: str, by: int = 1) -> None: ...
    async def add_devices(self, devices: Iterable[tuple[str, str]]) -> None: ...
    async def update_devices(self, updates: Iterable[DeviceUpdate]) -> None: ...
    async def mark_offline(self, site: str, device: str) -> None: ...
    async def open_violation(
        self, violation: OpenViolation, *, company: str, actor: str = ...
    ) -> str | None: ...
    async def resolve_violation(
        self, resolution: ResolveViolation, *, actor: str = ...
    ) -> str | None: ...
    async def insert_command(self, command: dict[str, Any], *, at: datetime) -> None: ...
    async def finish_command(
        self,
        command_id: str,
        *,
        status: str,
        actor: str,
        at: datetime,
        only_if_sent: bool,
        ack_result: str | None = None,
        ack_detail: str | None = None,
        acked_at: datetime | None = None,
    ) -> dict[str, Any] | None: ...
    async def expire_commands(self, now: datetime, *, actor: str) -> list[str]: ...
    async def set_sync_list(
        self, site: str, name: str, version: int, digest: str, at: datetime
    ) -> None: ...
    async def command_in_tx(self, command_id: str) -> dict[str, Any] | None: ...
    async def sync_list_in_tx(self, site: str, name: str) -> dict[str, Any] | None: ...
    async def open_keys(self) -> set[str]: ...
    async def devices_seen(self) -> list[DeviceSeen]: ...
    async def counts(self) -> dict[str, int]: ...
    async def command(self, command_id: str) -> dict[str, Any] | None: ...


class Store:
    """The hub's SQLite store. ``await Store.open(data_dir)``; ``await store.close()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, data_dir: Path | str) -> Store:
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        store = cls(data_dir / DB_NAME)
        await store._connect()
        return store

    async def _connect(self) -> None:
        # isolation_level=None: autocommit; transactions are explicit (BEGIN ... COMMIT)
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints, fast
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.execute("PRAGMA busy_timeout=5000")
        await apply_migrations(self._db, "hub", HUB_MIGRATIONS)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        await self._reader.execute("PRAGMA busy_timeout=5000")
        self._reader.row_factory = aiosqlite.Row

    async def close(self) -> None:
        for conn in (self._reader, self._db):
            if conn is not None:
                await conn.close()
        self._db = self._reader = None

    @property
    def db(self) -> aiosqlite.Connection:
        """The writer connection; write only inside ``transaction()``."""
        if self._db is None:
            raise RuntimeError("store is closed")
        return self._db

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("store is closed")
        return self._reader

    async def apply_migrations(self, component: str, migrations: list[str]) -> int:
        async with self._lock:
            return await apply_migrations(self.db, component, migrations)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Store]:
        """One atomic unit of writes; commits on success, rolls back on error."""
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                await self.db.rollback()
                raise
            await self.db.commit()

    # ------------------------------------------------------------------ writes (in a transaction)

    async def insert_events(self, items: Sequence[Accepted]) -> list[Accepted]:
        """Store events not seen before; return exactly those (first copy of each id wins)."""
        unique: dict[str, Accepted] = {}
        for item in items:
            unique.setdefault(item.message.id, item)
        existing = await self._existing_ids(list(unique))
        new = [item for event_id, item in unique.items() if event_id not in existing]
        await self.db.executemany(
            "INSERT OR IGNORE INTO events (id, site, device, kind, ts, received_at, topic,"
            " retained, gate, plate, subject, decision, payload)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [event_columns(item) for item in new],
        )
        return new

    async def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            async with self.db.execute(
                f"SELECT id FROM events WHERE id IN ({marks})", chunk
            ) as cur:
                found.update(row[0] for row in await cur.fetchall())
        return found

    async def insert_rejected(self, items: Iterable[Rejected]) -> None:
        await self.db.executemany(
            "INSERT INTO rejected (received_at, topic, reason, payload_size, payload_head)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (iso(r.received_at), r.topic, r.reason, r.payload_size, r.payload_head)
                for r in items
            ],
        )

    async def add_reject_counts(self, counts: Mapping[tuple[str, str, str, str], int]) -> None:
        """Add to the reject counts per (site, device, reason, minute) (hub/rejects.py)."""
        await self.db.executemany(
            "INSERT INTO reject_counts (site, device, reason, minute, count)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (site, device, reason, minute)"
            " DO UPDATE SET count = count + excluded.count",
            [(*key, n) for key, n in counts.items() if n],
        )

    async def bump_counter(self, name: str, by: int = 1) -> None:
        if by:
            await self.db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                (name, by),
            )

    async def add_devices(self, devices: Iterable[tuple[str, str]]) -> None:
        """Make configured devices known (never heard from yet) so the watchdog sees them."""
        await self.db.executemany(
            "INSERT OR IGNORE INTO devices (site, device) VALUES (?, ?)", list(devices)
        )

    async def update_devices(self, updates: Iterable[DeviceUpdate]) -> None:
        # times only move forward: max() over ISO UTC strings; NULL keeps the old value
        await self.db.executemany(
            "INSERT INTO devices (site, device, online, last_seen, last_heartbeat,"
            " offline_since, status_reason) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (site, device) DO UPDATE SET"
            "  online = excluded.online,"
            "  offline_since = CASE WHEN excluded.online THEN NULL"
            "                  ELSE coalesce(offline_since, excluded.offline_since) END,"
            "  last_seen = nullif(max(coalesce(last_seen, ''),"
            "                         coalesce(excluded.last_seen, '')), ''),"
            "  last_heartbeat = nullif(max(coalesce(last_heartbeat, ''),"
            "                              coalesce(excluded.last_heartbeat, '')), ''),"
            "  status_reason = excluded.status_reason",
            [
                (
                    u.site,
                    u.device,
                    int(u.online),
                    iso(u.last_seen) if u.last_seen else None,
                    iso(u.last_heartbeat) if u.last_heartbeat else None,
                    iso(u.offline_since) if u.offline_since else None,
                    u.reason,
                )
                for u in updates
            ],
        )

    async def mark_offline(self, site: str, device: str) -> None:
        """The watchdog's verdict; a device that said why it left keeps its own reason."""
        await self.db.execute(
            "UPDATE devices SET online = 0, status_reason = CASE WHEN offline_since IS NULL"
            " THEN 'silent' ELSE status_reason END WHERE site = ? AND device = ?",
            (site, device),
        )

    async def open_violation(
        self, violation: OpenViolation, *, company: str, actor: str = "hub.rules"
    ) -> str | None:
        """Insert a violation; None when one with the same open_key is already open.
        Evidence ids naming another site's events are dropped (they are device-supplied,
        e.g. an alarm's ``source_event``) and counted as ``foreign_evidence``."""
        vid = new_id()
        evidence = list(violation.evidence)
        if evidence:
            marks = ", ".join("?" * len(evidence))
            cur = await self.db.execute(
                f"SELECT id FROM events WHERE id IN ({marks}) AND site != ?",
                (*evidence, violation.site),
            )
            foreign = {r[0] for r in await cur.fetchall()}
            if foreign:
                log.warning("violation evidence from another site dropped: %s", sorted(foreign))
                await self.bump_counter("foreign_evidence", len(foreign))
                evidence = [e for e in evidence if e not in foreign]
        row = {
            "id": vid,
            "site": violation.site,
            "type": violation.type.value,
            "category": violation.category.value,
            "severity": violation.severity.value,
            "subject": violation.subject,
            "gate": violation.gate,
            "device": violation.device,
            "company": company,
            "opened_at": iso(violation.at),
            "status": "open",
            "detail": violation.detail,
            "evidence": json.dumps(evidence),
            "open_key": violation.open_key,
        }
        cur = await self.db.execute(
            f"INSERT OR IGNORE INTO violations ({', '.join(row)})"
            f" VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )
        if cur.rowcount != 1:
            return None
        await self.audit(actor, "violation.open", f"violation/{vid}", None, row, violation.at)
        return vid

    async def resolve_violation(
        self, resolution: ResolveViolation, *, actor: str = "hub.rules"
    ) -> str | None:
        """Close the open violation with this key; None when there is none."""
        async with self.db.execute(
            "SELECT id, evidence FROM violations WHERE open_key = ? AND status = 'open'",
            (resolution.open_key,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        vid, evidence = row[0], json.loads(row[1]) + list(resolution.evidence)
        closed_at = iso(resolution.at)
        await self.db.execute(
            "UPDATE violations SET status = 'resolved', closed_at = ?, resolution = ?,"
            " evidence = ? WHERE id = ?",
            (closed_at, resolution.detail, json.dumps(evidence), vid),
        )
        await self.audit(
            actor,
            "violation.resolve",
            f"violation/{vid}",
            {"status": "open"},
            {"status": "resolved", "closed_at": closed_at, "resolution": resolution.detail},
            resolution.at,
        )
        return vid

    async def insert_command(self, command: dict[str, Any], *, at: datetime) -> None:
        """``command``: id, site, device, gate, action, reason, operator, sent_at, expires_at,
        status (times as ISO text)."""
        await self.db.execute(
            f"INSERT INTO commands ({', '.join(command)}) VALUES ({', '.join('?' * len(command))})",
            tuple(command.values()),
        )
        await self.audit(
            command["operator"],
            f"gate_command.{command['status']}",
            f"gate/{command['site']}/{command['gate']}",
            None,
            command,
            at,
        )

    async def finish_command(
        self,
        command_id: str,
        *,
        status: str,
        actor: str,
        at: datetime,
        only_if_sent: bool,
        ack_result: str | None = None,
        ack_detail: str | None = None,
        acked_at: datetime | None = None,
    ) -> dict[str, Any] | None:
        """Set a command's final status; returns the updated row, None if nothing changed."""
        before = await self.command_in_tx(command_id)
        if before is None or (only_if_sent and before["status"] != "sent"):
            return None
        await self.db.execute(
            "UPDATE commands SET status = ?, ack_result = coalesce(?, ack_result),"
            " ack_detail = coalesce(?, ack_detail), acked_at = coalesce(?, acked_at)"
            " WHERE id = ?",
            (status, ack_result, ack_detail, iso(acked_at) if acked_at else None, command_id),
        )
        after = await self.command_in_tx(command_id)
        await self.audit(
            actor,
            f"gate_command.{status}",
            f"gate/{before['site']}/{before['gate']}",
            before,
            after,
            at,
        )
        return after

    async def expire_commands(self, now: datetime, *, actor: str) -> list[str]:
        """Commands still "sent" after they expired (their hub stopped waiting): timeout."""
        rows = await self._rows(
            "SELECT id FROM commands WHERE status = 'sent' AND expires_at < ?",
            [iso(now)],
            conn=self.db,
        )
        for row in rows:
            await self.finish_command(
                row["id"],
                status="timeout",
                actor=actor,
                at=now,
                only_if_sent=True,
                ack_detail="no ack before the hub stopped waiting",
            )
        return [row["id"] for row in rows]

    async def audit(
        self,
        actor: str,
        action: str,
        target: str,
        before: Any,
        after: Any,
        at: datetime,
    ) -> None:
        await self.db.execute(
            "INSERT INTO audit_log (at, actor, action, target, before, after)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (iso(at), actor, action, target, _json(before), _json(after)),
        )

    async def set_sync_list(self, site: str, name: str, version: int, digest: str, at: datetime):
        before = await self.sync_list_in_tx(site, name)
        await self.db.execute(
            "INSERT INTO sync_lists (site, name, version, digest, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (site, name) DO UPDATE SET"
            " version = excluded.version, digest = excluded.digest,"
            " updated_at = excluded.updated_at",
            (site, name, version, digest, iso(at)),
        )
        await self.audit(
            "hub",
            "sync_list.publish",
            f"sync/{site}/{name}",
            before,
            {"version": version, "digest": digest},
            at,
        )

    # ------------------------------------------------------------------ retention (own batches)
    # Each batch is one short transaction; candidates are found on the reader connection, so
    # the hub's ingest batches (same lock) wait at most one batch, never a whole purge.

    async def ensure_retention_schema(self) -> None:
        await self.apply_migrations("retention", RETENTION_MIGRATIONS)

    async def strip_evidence(
        self,
        site: str,
        *,
        before: datetime,
        violation_evidence: bool,
        now: datetime,
        after: datetime | None = None,
        suffix: str = "_jpeg_b64",
        batch: int = 200,
        dry_run: bool = False,
    ) -> int:
        """Remove evidence snapshots (text values of payload keys ending in ``suffix``, at any
        depth) from ``site``'s events older than ``before`` (and not older than ``after``)
        that are (``violation_evidence``) or are not a violation's evidence, and set
        ``evidence_purged_at``. Returns how many events were (dry run: would be) stripped."""
        if not dry_run:
            await self.ensure_retention_schema()
        glob = "*" + suffix.replace("[", "[[]").replace("*", "[*]").replace("?", "[?]")
        # A cheap text test before JSON parsing: only keys holding a string (compact JSON as
        # the hub stores it, or with a space) pass, so a null crop is not parsed every run.
        needles = (f'{suffix}":"', f'{suffix}": "')
        member = "IN" if violation_evidence else "NOT IN"
        select = (
            "SELECT b.ts, b.rid, b.id, (SELECT json_group_array(j.fullkey)"
            "  FROM json_tree(b.payload) j WHERE j.type = 'text' AND j.key GLOB ?) AS paths"
            " FROM (SELECT ts, rowid AS rid, id, payload FROM events"
            "  WHERE site = ? AND ts < ? AND (ts, rowid) > (?, ?)"
            "  AND (instr(payload, ?) > 0 OR instr(payload, ?) > 0)"
            f"  AND id {member} ({_VIOLATION_EVIDENCE}) ORDER BY ts, rowid LIMIT ?) b"
            " ORDER BY b.ts, b.rid"
        )
        position: tuple[str, int] = (iso(after) if after else "", 0)  # keyset: (ts, rowid)
        total = 0
        while True:
            rows = await self._rows(select, [glob, site, iso(before), *position, *needles, batch])
            if not rows:
                return total
            position = (rows[-1]["ts"], rows[-1]["rid"])
            work = [(r["id"], json.loads(r["paths"])) for r in rows]
            work = [(event_id, paths) for event_id, paths in work if paths]
            if dry_run:
                total += len(work)
                continue
            async with self._purge_transaction():
                for event_id, paths in work:
                    marks = ", ".join("?" * len(paths))
                    cur = await self.db.execute(
                        f"UPDATE events SET payload = json_remove(payload, {marks}),"
                        " evidence_purged_at = ? WHERE id = ? AND evidence_purged_at IS NULL",
                        (*paths, iso(now), event_id),
                    )
                    total += cur.rowcount
            await asyncio.sleep(0)

    async def delete_old_events(
        self, site: str, *, before: datetime, batch: int = 200, dry_run: bool = False
    ) -> int:
        """Delete ``site``'s events older than ``before`` that no violation names as evidence."""
        where = f"site = ? AND ts < ? AND id NOT IN ({_VIOLATION_EVIDENCE})"
        params = [site, iso(before)]
        if dry_run:
            return int(await self._scalar(f"SELECT count(*) FROM events WHERE {where}", params))
        return await self._delete_batches(
            f"DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE {where} LIMIT ?)",
            params,
            batch,
        )

    async def delete_old_rejected(
        self, *, before: datetime, batch: int = 200, dry_run: bool = False
    ) -> int:
        params = [iso(before)]
        if dry_run:
            return int(
                await self._scalar("SELECT count(*) FROM rejected WHERE received_at < ?", params)
            )
        return await self._delete_batches(
            "DELETE FROM rejected WHERE id IN"
            " (SELECT id FROM rejected WHERE received_at < ? ORDER BY id LIMIT ?)",
            params,
            batch,
        )

    async def delete_old_reject_counts(self, *, before: datetime, dry_run: bool = False) -> int:
        """Drop the per-minute reject counts older than ``before`` (the rejects' retention):
        the counts are accounting, not evidence, and would otherwise grow for ever."""
        params = [minute_of(before)]
        if dry_run:
            return int(
                await self._scalar("SELECT count(*) FROM reject_counts WHERE minute < ?", params)
            )
        async with self.transaction():
            cursor = await self.db.execute("DELETE FROM reject_counts WHERE minute < ?", params)
            return cursor.rowcount

    @asynccontextmanager
    async def _purge_transaction(self) -> AsyncIterator[Store]:
        """A transaction whose deleted and overwritten content SQLite zeroes on disk (purged
        snapshots are personal data); off again after it, as the store otherwise runs."""
        async with self.transaction():
            await self.db.execute("PRAGMA secure_delete = ON")
            try:
                yield self
            finally:
                await self.db.execute("PRAGMA secure_delete = OFF")

    async def _delete_batches(self, sql: str, params: list[Any], batch: int) -> int:
        total = 0
        while True:
            async with self._purge_transaction():
                cur = await self.db.execute(sql, [*params, batch])
                deleted = cur.rowcount
            total += deleted
            if deleted < batch:
                return total
            await asyncio.sleep(0)  # let a waiting ingest batch in

    # ------------------------------------------------------------------ reads (committed data)

    async def _rows(
        self, sql: str, params: Sequence[Any] = (), conn: aiosqlite.Connection | None = None
    ) -> list[dict[str, Any]]:
        conn = conn or self.reader
        async with conn.execute(sql, params) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self.reader.execute(sql, params) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def counts(self) -> dict[str, int]:
        """Totals for summaries: events, violations, gate_opens, rejected, ..."""
        row = (
            await self._rows(
                "SELECT"
                " (SELECT count(*) FROM events) AS events,"
                " (SELECT count(*) FROM violations) AS violations,"
                " (SELECT count(*) FROM violations WHERE status = 'open') AS open_violations,"
                " (SELECT count(*) FROM events WHERE kind = 'gate_decision'"
                "   AND decision = 'open') AS gate_opens,"
                " (SELECT count(*) FROM events WHERE kind = 'gate_decision'"
                "   AND decision = 'refuse') AS gate_refusals,"
                " (SELECT count(*) FROM rejected) AS rejected_stored,"
                " (SELECT coalesce(sum(count), 0) FROM reject_counts) AS rejected,"
                " (SELECT count(*) FROM commands) AS commands,"
                " (SELECT count(*) FROM devices WHERE online = 0) AS devices_offline"
            )
        )[0]
        counters = {r["name"]: r["value"] for r in await self._rows("SELECT * FROM counters")}
        row = {"duplicates": 0, "ignored": 0, **counters, **row}
        # every reject is counted (reject_counts); only samples are kept whole (rejected)
        row["rejected_unstored"] = max(row["rejected"] - row["rejected_stored"], 0)
        return {k: int(v) for k, v in row.items()}

    async def reject_counts(
        self, sites: Sequence[str] | None = None, *, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Rejects per (site, device, reason) summed over minutes (since ``since``), with the
        last minute each was seen; devices not told by the topic are ``?``."""
        where: list[str] = []
        params: list[Any] = []
        if sites is not None:
            where.append(f"site IN ({', '.join('?' * len(sites))})")
            params.extend(sites)
        if since is not None:
            where.append("minute >= ?")
            params.append(since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return await self._rows(
            "SELECT site, device, reason, sum(count) AS count, max(minute) AS last_minute"
            f" FROM reject_counts{clause} GROUP BY site, device, reason"
            " ORDER BY site, device, count DESC",
            params,
        )

    async def open_keys(self) -> set[str]:
        rows = await self._rows(
            "SELECT open_key FROM violations WHERE status = 'open' AND open_key IS NOT NULL",
            conn=self.db,
        )
        return {r["open_key"] for r in rows}

    async def devices_seen(self) -> list[DeviceSeen]:
        rows = await self._rows(
            "SELECT site, device, last_seen, offline_since, status_reason FROM devices",
            conn=self.db,
        )
        return [
            DeviceSeen(
                r["site"],
                r["device"],
                from_iso(r["last_seen"]),
                from_iso(r["offline_since"]),
                r["status_reason"],
            )
            for r in rows
        ]

    async def devices(self) -> list[dict[str, Any]]:
        return await self._rows("SELECT * FROM devices ORDER BY site, device")

    async def events(
        self, *, kind: str | None = None, site: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        where, params = _filters(kind=kind, site=site)
        return await self._rows(
            f"SELECT * FROM events{where} ORDER BY received_at DESC LIMIT ?", [*params, limit]
        )

    async def violations(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        site: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        where, params = _filters(status=status, type=type, site=site)
        rows = await self._rows(
            f"SELECT * FROM violations{where} ORDER BY opened_at DESC LIMIT ?", [*params, limit]
        )
        for row in rows:
            row["evidence"] = json.loads(row["evidence"])
        return rows

    async def rejected(self, limit: int = 100) -> list[dict[str, Any]]:
        return await self._rows("SELECT * FROM rejected ORDER BY id DESC LIMIT ?", [limit])

    async def audit_log(
        self, *, target_prefix: str = "", target: str | None = None, limit: int = 1000
    ) -> list[dict]:
        """Audit rows whose target is ``target`` exactly, or starts with ``target_prefix``."""
        if target is not None:
            sql, params = "SELECT * FROM audit_log WHERE target = ? ORDER BY id LIMIT ?", [target]
        else:
            sql = (
                "SELECT * FROM audit_log WHERE substr(target, 1, length(?)) = ? ORDER BY id LIMIT ?"
            )
            params = [target_prefix, target_prefix]
        rows = await self._rows(sql, [*params, limit])
        for row in rows:
            for col in ("before", "after"):
                row[col] = json.loads(row[col]) if row[col] else None
        return rows

    async def command(
        self, command_id: str, conn: aiosqlite.Connection | None = None
    ) -> dict[str, Any] | None:
        rows = await self._rows("SELECT * FROM commands WHERE id = ?", [command_id], conn=conn)
        return rows[0] if rows else None

    async def command_in_tx(self, command_id: str) -> dict[str, Any] | None:
        return await self.command(command_id, conn=self.db)

    async def sync_list_in_tx(self, site: str, name: str) -> dict[str, Any] | None:
        return await self.sync_list(site, name, conn=self.db)

    async def sync_list(
        self, site: str, name: str, conn: aiosqlite.Connection | None = None
    ) -> dict[str, Any] | None:
        rows = await self._rows(
            "SELECT version, digest, updated_at FROM sync_lists WHERE site = ? AND name = ?",
            [site, name],
            conn=conn,
        )
        return rows[0] if rows else None


def _filters(**equal: str | None) -> tuple[str, list[Any]]:
    used = {k: v for k, v in equal.items() if v is not None}
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{k} = ?" for k in used), list(used.values())
