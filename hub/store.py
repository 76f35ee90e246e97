"""Durable storage for the hub on SQLAlchemy Core: SQLite (aiosqlite, WAL; the embedded
default) or PostgreSQL (asyncpg), chosen by the database URL (``--db``, hub/db/engine.py).

One writer connection (every change goes through ``transaction()``, serialised by a
lock, so a batch and a gate command never interleave inside one transaction) and a pool of
reader connections (they see only committed data and never block the writer). The tables
are hub/db/tables.py's; Alembic migrates them on open (hub/db/migrate.py). Upserts and
de-duplication by envelope id use each dialect's ``INSERT ... ON CONFLICT``.

Modules not yet on SQLAlchemy Core use ``db`` / ``reader`` (the SQLite driver connections)
and work on SQLite only; the retention purge (JSON tree edits, ``secure_delete``) is one of
them.
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
from sqlalchemy import Select, Table, case, func, literal, null, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from hub.db import tables as t
from hub.db.engine import DB_NAME, database_url, display_url, make_engine, sqlite_path
from hub.db.migrate import upgrade
from hub.rejects import minute_of
from hub.rules import DeviceSeen, OpenViolation, ResolveViolation
from hub.storage_fault import storage_error_kind
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

_IN_CHUNK = 500  # ids per "IN (...)" query, well under SQLite's variable limit

# Retention (hub/retention/): when an event's evidence snapshots were purged. Was applied on
# first use before Alembic (hub/db/migrate.py converts such databases); now in revision 0001.
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


_EVENT_KEYS = (
    "id",
    "site",
    "device",
    "kind",
    "ts",
    "received_at",
    "topic",
    "retained",
    "gate",
    "plate",
    "subject",
    "decision",
    "payload",
)


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
    """The hub's store on SQLite (default) or PostgreSQL: ``await Store.open(data_dir, db)``;
    ``await store.close()``."""

    def __init__(self, url: URL, data_dir: Path) -> None:
        self.url = url
        self.data_dir = data_dir
        # the SQLite file (faces and retention open it too); for PostgreSQL the path a
        # file store would have, named in logs only
        self.path = sqlite_path(url) or data_dir / DB_NAME
        self.dialect = url.get_backend_name()
        self._engine: AsyncEngine | None = None
        self._readers: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None  # the one writer connection
        self._db: aiosqlite.Connection | None = None  # its SQLite driver connection
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._tx_owner: asyncio.Task[Any] | None = None

    @classmethod
    async def open(cls, data_dir: Path | str, db: str | None = None) -> Store:
        """``db``: a database URL (``postgresql://...``, ``sqlite:///FILE``) or file path;
        default ``DATA_DIR/hub.db``. Migrates the schema to the newest revision."""
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        store = cls(database_url(data_dir, db), data_dir)
        await store._connect()
        return store

    async def _connect(self) -> None:
        self._engine = make_engine(self.url, pool_size=1, max_overflow=0)
        try:
            await upgrade(self._engine)
            self._conn = await self._engine.connect()
            self._readers = make_engine(self.url, autocommit=True, pool_size=4)
            if self.dialect == "sqlite":
                raw = await self._conn.get_raw_connection()
                self._db = raw.driver_connection  # type: ignore[assignment]
                self._reader = await aiosqlite.connect(self.path, isolation_level=None)
                await self._reader.execute("PRAGMA busy_timeout=5000")
                self._reader.row_factory = aiosqlite.Row
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
        if self._conn is not None:
            await self._conn.close()
        for engine in (self._readers, self._engine):
            if engine is not None:
                await engine.dispose()
        self._db = self._reader = self._conn = self._engine = self._readers = None

    @property
    def conn(self) -> AsyncConnection:
        """The writer connection; write only inside ``transaction()``."""
        if self._conn is None:
            raise RuntimeError("store is closed")
        return self._conn

    @property
    def db(self) -> aiosqlite.Connection:
        """The writer's SQLite driver connection, for modules not yet on SQLAlchemy Core."""
        if self._db is None:
            raise RuntimeError(self._closed_or_not_sqlite())
        return self._db

    @property
    def reader(self) -> aiosqlite.Connection:
        """A SQLite reader connection, for modules not yet on SQLAlchemy Core."""
        if self._reader is None:
            raise RuntimeError(self._closed_or_not_sqlite())
        return self._reader

    def _closed_or_not_sqlite(self) -> str:
        if self._conn is None:
            return "store is closed"
        return f"this part of the hub stores to SQLite only, not to {display_url(self.url)}"

    def insert(self, table: Table) -> Any:
        """``INSERT`` with ``on_conflict_do_nothing/update`` for this store's engine."""
        return pg_insert(table) if self.dialect == "postgresql" else sqlite_insert(table)

    async def apply_migrations(self, component: str, migrations: list[str]) -> int:
        """The numbered migrations of ``component`` are part of Alembic's first revision
        (hub/db/migrate.py): the tables exist already; kept for older callers."""
        return len(migrations)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Store]:
        """One atomic unit of writes; commits on success, rolls back on error."""
        async with self._lock:
            self._tx_owner = asyncio.current_task()
            try:
                async with self.conn.begin():
                    yield self
            except Exception as exc:
                if storage_error_kind(exc) in ("disconnected", "shutdown", "closed"):
                    await self._reconnect_writer()  # the next try gets a live connection
                raise
            finally:
                self._tx_owner = None

    async def _reconnect_writer(self) -> None:
        """A PostgreSQL server restarted or ended our session: drop the dead connection."""
        if self.dialect != "postgresql" or self._conn is None or self._engine is None:
            return
        # an invalidated connection reconnects on its next use (the server may be down now)
        await self._conn.invalidate()

    def _in_own_transaction(self) -> bool:
        return self._tx_owner is not None and self._tx_owner is asyncio.current_task()

    async def execute(self, statement: Executable, params: Any = None) -> CursorResult[Any]:
        """Run a write on the writer connection (inside ``transaction()``)."""
        return await self.conn.execute(statement, params)

    async def _executemany(self, statement: Executable, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(statement, rows)

    # ------------------------------------------------------------------ writes (in a transaction)

    async def insert_events(self, items: Sequence[Accepted]) -> list[Accepted]:
        """Store events not seen before; return exactly those (first copy of each id wins)."""
        unique: dict[str, Accepted] = {}
        for item in items:
            unique.setdefault(item.message.id, item)
        if self.dialect == "postgresql":
            return await self._insert_new_events(unique)
        existing = await self._existing_ids(list(unique))
        new = [item for event_id, item in unique.items() if event_id not in existing]
        await self._executemany(
            self.insert(t.events).on_conflict_do_nothing(index_elements=["id"]),
            [dict(zip(_EVENT_KEYS, event_columns(item), strict=True)) for item in new],
        )
        return new

    async def _insert_new_events(self, unique: dict[str, Accepted]) -> list[Accepted]:
        """PostgreSQL: one round trip, ``ON CONFLICT DO NOTHING RETURNING id`` says which
        rows were new (a network hop costs more there than SQLite's in-process lookup)."""
        if not unique:
            return []
        stmt = (
            self.insert(t.events)
            .values(
                [dict(zip(_EVENT_KEYS, event_columns(i), strict=True)) for i in unique.values()]
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(t.events.c.id)
        )
        stored = set((await self.conn.execute(stmt)).scalars())
        return [item for event_id, item in unique.items() if event_id in stored]

    async def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            result = await self.conn.execute(select(t.events.c.id).where(t.events.c.id.in_(chunk)))
            found.update(result.scalars())
        return found

    async def insert_rejected(self, items: Iterable[Rejected]) -> None:
        await self._executemany(
            t.rejected.insert(),
            [
                {
                    "received_at": iso(r.received_at),
                    "topic": _no_nul(r.topic),
                    "reason": _no_nul(r.reason),
                    "payload_size": r.payload_size,
                    "payload_head": _no_nul(r.payload_head),
                }
                for r in items
            ],
        )

    async def add_reject_counts(self, counts: Mapping[tuple[str, str, str, str], int]) -> None:
        """Add to the reject counts per (site, device, reason, minute) (hub/rejects.py)."""
        stmt = self.insert(t.reject_counts)
        stmt = stmt.on_conflict_do_update(
            index_elements=["site", "device", "reason", "minute"],
            set_={"count": t.reject_counts.c.count + stmt.excluded.count},
        )
        await self._executemany(
            stmt,
            [
                {"site": site, "device": device, "reason": reason, "minute": minute, "count": n}
                for (site, device, reason, minute), n in counts.items()
                if n
            ],
        )

    async def bump_counter(self, name: str, by: int = 1) -> None:
        if by:
            stmt = self.insert(t.counters).values(name=name, value=by)
            await self.conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["name"],
                    set_={"value": t.counters.c.value + stmt.excluded.value},
                )
            )

    async def add_devices(self, devices: Iterable[tuple[str, str]]) -> None:
        """Make configured devices known (never heard from yet) so the watchdog sees them."""
        await self._executemany(
            self.insert(t.devices).on_conflict_do_nothing(index_elements=["site", "device"]),
            [{"site": site, "device": device} for site, device in devices],
        )

    async def update_devices(self, updates: Iterable[DeviceUpdate]) -> None:
        stmt = self.insert(t.devices)
        new, d = stmt.excluded, t.devices.c
        stmt = stmt.on_conflict_do_update(
            index_elements=["site", "device"],
            set_={
                "online": new.online,
                "offline_since": case(
                    (new.online == 1, null()),
                    else_=func.coalesce(d.offline_since, new.offline_since),
                ),
                "last_seen": _newest(d.last_seen, new.last_seen),
                "last_heartbeat": _newest(d.last_heartbeat, new.last_heartbeat),
                "status_reason": new.status_reason,
            },
        )
        await self._executemany(
            stmt,
            [
                {
                    "site": u.site,
                    "device": u.device,
                    "online": int(u.online),
                    "last_seen": iso(u.last_seen) if u.last_seen else None,
                    "last_heartbeat": iso(u.last_heartbeat) if u.last_heartbeat else None,
                    "offline_since": iso(u.offline_since) if u.offline_since else None,
                    "status_reason": u.reason,
                }
                for u in updates
            ],
        )

    async def mark_offline(self, site: str, device: str) -> None:
        """The watchdog's verdict; a device that said why it left keeps its own reason."""
        d = t.devices.c
        await self.conn.execute(
            update(t.devices)
            .where(d.site == site, d.device == device)
            .values(
                online=0,
                status_reason=case(
                    (d.offline_since.is_(None), literal("silent")), else_=d.status_reason
                ),
            )
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
            e = t.events.c
            found = await self.conn.execute(
                select(e.id).where(e.id.in_(evidence), e.site != violation.site)
            )
            foreign = {r[0] for r in found}
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
        v = t.violations.c
        # at most one open violation per key (the partial unique index violations_one_open)
        stmt = (
            self.insert(t.violations)
            .values(row)
            .on_conflict_do_nothing(
                index_elements=[v.open_key],
                index_where=(v.status == "open") & v.open_key.is_not(None),
            )
        )
        result = await self.conn.execute(stmt)
        if result.rowcount != 1:
            return None
        await self.audit(actor, "violation.open", f"violation/{vid}", None, row, violation.at)
        return vid

    async def resolve_violation(
        self, resolution: ResolveViolation, *, actor: str = "hub.rules"
    ) -> str | None:
        """Close the open violation with this key; None when there is none."""
        v = t.violations.c
        found = (
            await self.conn.execute(
                select(v.id, v.evidence).where(
                    v.open_key == resolution.open_key, v.status == "open"
                )
            )
        ).first()
        if found is None:
            return None
        vid, evidence = found[0], json.loads(found[1]) + list(resolution.evidence)
        closed_at = iso(resolution.at)
        await self.conn.execute(
            update(t.violations)
            .where(v.id == vid)
            .values(
                status="resolved",
                closed_at=closed_at,
                resolution=resolution.detail,
                evidence=json.dumps(evidence),
            )
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
        await self.conn.execute(t.commands.insert().values(command))
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
        c = t.commands.c
        changes: dict[str, Any] = {"status": status}
        for name, value in (
            ("ack_result", ack_result),
            ("ack_detail", ack_detail),
            ("acked_at", iso(acked_at) if acked_at else None),
        ):
            if value is not None:
                changes[name] = value
        await self.conn.execute(update(t.commands).where(c.id == command_id).values(changes))
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
        c = t.commands.c
        ids = list(
            (
                await self.conn.execute(
                    select(c.id).where(c.status == "sent", c.expires_at < iso(now))
                )
            ).scalars()
        )
        for command_id in ids:
            await self.finish_command(
                command_id,
                status="timeout",
                actor=actor,
                at=now,
                only_if_sent=True,
                ack_detail="no ack before the hub stopped waiting",
            )
        return ids

    async def audit(
        self,
        actor: str,
        action: str,
        target: str,
        before: Any,
        after: Any,
        at: datetime,
    ) -> None:
        await self.conn.execute(
            t.audit_log.insert().values(
                at=iso(at),
                actor=actor,
                action=action,
                target=target,
                before=_json(before),
                after=_json(after),
            )
        )

    async def set_sync_list(self, site: str, name: str, version: int, digest: str, at: datetime):
        before = await self.sync_list_in_tx(site, name)
        stmt = self.insert(t.sync_lists).values(
            site=site, name=name, version=version, digest=digest, updated_at=iso(at)
        )
        await self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["site", "name"],
                set_={
                    "version": stmt.excluded.version,
                    "digest": stmt.excluded.digest,
                    "updated_at": stmt.excluded.updated_at,
                },
            )
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
        """``events.evidence_purged_at`` is part of the schema (Alembic revision 0001)."""

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
        candidates = (
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
            rows = await self._sqlite_rows(
                candidates, [glob, site, iso(before), *position, *needles, batch]
            )
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
            return int(
                await self._sqlite_scalar(f"SELECT count(*) FROM events WHERE {where}", params)
            )
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
                await self._sqlite_scalar(
                    "SELECT count(*) FROM rejected WHERE received_at < ?", params
                )
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
        old = t.reject_counts.c.minute < minute_of(before)
        if dry_run:
            return int(
                await self.scalar(select(func.count()).select_from(t.reject_counts).where(old))
            )
        async with self.transaction():
            result = await self.conn.execute(t.reject_counts.delete().where(old))
            return int(result.rowcount)

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

    async def _sqlite_rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        async with self.reader.execute(sql, params) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]

    async def _sqlite_scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self.reader.execute(sql, params) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def rows(self, query: Executable, *, writer: bool = False) -> list[dict[str, Any]]:
        """Rows of ``query`` as dicts: committed data from a reader connection, or with
        ``writer`` inside this task's transaction, what it has written so far."""
        if writer and self._in_own_transaction():
            return [dict(r) for r in (await self.conn.execute(query)).mappings()]
        if self._readers is None:
            raise RuntimeError("store is closed")
        async with self._readers.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def scalar(self, query: Executable, *, writer: bool = False) -> Any:
        found = await self.rows(query, writer=writer)
        return next(iter(found[0].values())) if found else None

    async def counts(self) -> dict[str, int]:
        """Totals for summaries: events, violations, gate_opens, rejected, ..."""
        e, v = t.events.c, t.violations.c

        def count(table: Table, *where: Any) -> Any:
            return select(func.count()).select_from(table).where(*where).scalar_subquery()

        row = (
            await self.rows(
                select(
                    count(t.events).label("events"),
                    count(t.violations).label("violations"),
                    count(t.violations, v.status == "open").label("open_violations"),
                    count(t.events, e.kind == "gate_decision", e.decision == "open").label(
                        "gate_opens"
                    ),
                    count(t.events, e.kind == "gate_decision", e.decision == "refuse").label(
                        "gate_refusals"
                    ),
                    count(t.rejected).label("rejected_stored"),
                    select(func.coalesce(func.sum(t.reject_counts.c.count), 0))
                    .scalar_subquery()
                    .label("rejected"),
                    count(t.commands).label("commands"),
                    count(t.devices, t.devices.c.online == 0).label("devices_offline"),
                )
            )
        )[0]
        counters = {r["name"]: r["value"] for r in await self.rows(select(t.counters))}
        row = {"duplicates": 0, "ignored": 0, **counters, **row}
        # every reject is counted (reject_counts); only samples are kept whole (rejected)
        row["rejected_unstored"] = max(row["rejected"] - row["rejected_stored"], 0)
        return {k: int(v) for k, v in row.items()}

    async def reject_counts(
        self, sites: Sequence[str] | None = None, *, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Rejects per (site, device, reason) summed over minutes (since ``since``), with the
        last minute each was seen; devices not told by the topic are ``?``."""
        r = t.reject_counts.c
        total = func.sum(r.count)
        query = select(
            r.site,
            r.device,
            r.reason,
            total.label("count"),
            func.max(r.minute).label("last_minute"),
        ).group_by(r.site, r.device, r.reason)
        if sites is not None:
            query = query.where(r.site.in_(list(sites)))
        if since is not None:
            query = query.where(r.minute >= since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))
        found = await self.rows(query.order_by(r.site, r.device, total.desc()))
        for row in found:
            row["count"] = int(row["count"])
        return found

    async def open_keys(self) -> set[str]:
        v = t.violations.c
        query = select(v.open_key).where(v.status == "open", v.open_key.is_not(None))
        return {r["open_key"] for r in await self.rows(query, writer=True)}

    async def devices_seen(self) -> list[DeviceSeen]:
        d = t.devices.c
        query = select(d.site, d.device, d.last_seen, d.offline_since, d.status_reason)
        return [
            DeviceSeen(
                r["site"],
                r["device"],
                from_iso(r["last_seen"]),
                from_iso(r["offline_since"]),
                r["status_reason"],
            )
            for r in await self.rows(query, writer=True)
        ]

    async def devices(self) -> list[dict[str, Any]]:
        return await self.rows(select(t.devices).order_by(t.devices.c.site, t.devices.c.device))

    async def events(
        self, *, kind: str | None = None, site: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        query = _filtered(t.events, kind=kind, site=site)
        return await self.rows(query.order_by(t.events.c.received_at.desc()).limit(limit))

    async def violations(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        site: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        query = _filtered(t.violations, status=status, type=type, site=site)
        found = await self.rows(query.order_by(t.violations.c.opened_at.desc()).limit(limit))
        for row in found:
            row["evidence"] = json.loads(row["evidence"])
        return found

    async def rejected(self, limit: int = 100) -> list[dict[str, Any]]:
        return await self.rows(select(t.rejected).order_by(t.rejected.c.id.desc()).limit(limit))

    async def audit_log(
        self, *, target_prefix: str = "", target: str | None = None, limit: int = 1000
    ) -> list[dict]:
        """Audit rows whose target is ``target`` exactly, or starts with ``target_prefix``."""
        a = t.audit_log.c
        if target is not None:
            where = a.target == target
        else:  # an exact prefix (LIKE would take _ and % as patterns, and ignore case)
            where = func.substr(a.target, 1, len(target_prefix)) == target_prefix
        found = await self.rows(select(t.audit_log).where(where).order_by(a.id).limit(limit))
        for row in found:
            for col in ("before", "after"):
                row[col] = json.loads(row[col]) if row[col] else None
        return found

    async def command(self, command_id: str, *, writer: bool = False) -> dict[str, Any] | None:
        found = await self.rows(
            select(t.commands).where(t.commands.c.id == command_id), writer=writer
        )
        return found[0] if found else None

    async def command_in_tx(self, command_id: str) -> dict[str, Any] | None:
        return await self.command(command_id, writer=True)

    async def sync_list_in_tx(self, site: str, name: str) -> dict[str, Any] | None:
        return await self.sync_list(site, name, writer=True)

    async def sync_list(
        self, site: str, name: str, *, writer: bool = False
    ) -> dict[str, Any] | None:
        s = t.sync_lists.c
        found = await self.rows(
            select(s.version, s.digest, s.updated_at).where(s.site == site, s.name == name),
            writer=writer,
        )
        return found[0] if found else None


def _no_nul(text: str) -> str:
    """A rejected message's text as both engines can hold it: PostgreSQL text has no NUL, so
    NUL is stored as ``\\x00``, the way undecodable bytes already are (backslashreplace)."""
    return text.replace("\x00", "\\x00") if "\x00" in text else text


def _newest(old: Any, new: Any) -> Any:
    """The later of two ISO UTC times (they sort as text); NULL keeps the other one."""
    old, new = func.coalesce(old, ""), func.coalesce(new, "")
    return func.nullif(case((old > new, old), else_=new), "")


def _filtered(table: Table, **equal: str | None) -> Select[Any]:
    query = select(table)
    for name, value in equal.items():
        if value is not None:
            query = query.where(table.c[name] == value)
    return query
