"""Read-only queries over the hub's tables for the console's pages (the hub's reader
connection: committed data only, never blocks the writer)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from hub.console.carpark import SlotReading
from hub.store import Store, from_iso, iso
from models.messages import utcnow


async def rows(store: Store, sql: str, params: list[Any] | tuple = ()) -> list[dict[str, Any]]:
    async with store.reader.execute(sql, list(params)) as cur:
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]


async def gate_positions(store: Store, site: str) -> dict[str, dict[str, Any]]:
    """The newest gate_state event of each gate: position, cause, ts."""
    found = await rows(
        store,
        "SELECT gate, ts, payload FROM events WHERE rowid IN (SELECT max(rowid) FROM events"
        " WHERE kind = 'gate_state' AND site = ? GROUP BY gate)",
        [site],
    )
    out = {}
    for r in found:
        p = json.loads(r["payload"])
        out[r["gate"]] = {"position": p.get("position"), "cause": p.get("cause", ""), "ts": r["ts"]}
    return out


async def last_commands(store: Store, site: str) -> dict[str, dict[str, Any]]:
    found = await rows(
        store,
        "SELECT * FROM commands WHERE rowid IN (SELECT max(rowid) FROM commands WHERE site = ?"
        " GROUP BY gate)",
        [site],
    )
    return {r["gate"]: r for r in found}


async def devices(store: Store, sites: list[str]) -> list[dict[str, Any]]:
    """Devices with online state, last heartbeat and an open camera-tamper flag."""
    if not sites:
        return []
    marks = ", ".join("?" * len(sites))
    found = await rows(
        store, f"SELECT * FROM devices WHERE site IN ({marks}) ORDER BY site, device", sites
    )
    tamper = await rows(
        store,
        f"SELECT site, device, gate, opened_at FROM violations WHERE status = 'open'"
        f" AND type = 'camera_tamper' AND site IN ({marks})",
        sites,
    )
    tampered = {(t["site"], t["device"]): t for t in tamper}
    rejected = await reject_counts(store, sites, since=utcnow() - REJECTS_WINDOW)
    for d in found:
        t = tampered.get((d["site"], d["device"]))
        d["tamper"] = bool(t)
        d["tamper_since"] = t["opened_at"] if t else None
        d["state"] = "never" if d["online"] is None else ("online" if d["online"] else "offline")
        reasons = rejected.get((d["site"], d["device"]), {})
        d["rejected_24h"] = sum(reasons.values())
        d["rejected_reasons"] = reasons
    return found


REJECTS_WINDOW = timedelta(hours=24)


async def reject_counts(
    store: Store, sites: list[str], *, since: datetime
) -> dict[tuple[str, str], dict[str, int]]:
    """Rejected messages per (site, device) since ``since``, by reason code (every reject
    is counted, hub/rejects.py); a sender the topic did not tell is device ``?``."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for r in await store.reject_counts(sites, since=since):
        out.setdefault((r["site"], r["device"]), {})[r["reason"]] = int(r["count"])
    return out


async def slot_readings(
    store: Store, site: str, *, before: datetime | None = None, since: datetime | None = None
) -> list[SlotReading]:
    """slot_state events: the newest per slot before ``before``, or all since ``since``."""
    if before is not None:
        found = await rows(
            store,
            "SELECT payload FROM events WHERE rowid IN (SELECT max(rowid) FROM events"
            " WHERE kind = 'slot_state' AND site = ? AND ts < ? GROUP BY subject)",
            [site, iso(before)],
        )
    else:
        found = await rows(
            store,
            "SELECT payload FROM events WHERE kind = 'slot_state' AND site = ? AND ts >= ?"
            " ORDER BY ts",
            [site, iso(since) if since else ""],
        )
    out = []
    for r in found:
        p = json.loads(r["payload"])
        out.append(
            SlotReading(p["slot"], bool(p["occupied"]), from_iso(p["since"]), p.get("plate"))
        )  # type: ignore[arg-type]
    return out


async def audit_rows(
    store: Store,
    *,
    limit: int = 200,
    offset: int = 0,
    actor: str | None = None,
    q: str = "",
) -> list[dict]:
    """Newest first; ``q`` is searched in the action and the target (plain LIKE)."""
    clauses, params = [], []
    if actor:
        clauses.append("actor = ?")
        params.append(actor)
    if q:
        clauses.append("(action LIKE ? OR target LIKE ?)")
        params += [f"%{q}%", f"%{q}%"]
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return await rows(
        store,
        f"SELECT * FROM audit_log {where} ORDER BY id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )


_FACES = (
    "SELECT p.person, p.role, p.created_at,"
    " (SELECT count(*) FROM face_encodings e WHERE e.person = p.person) AS encodings,"
    " (SELECT max(c.expires_at) FROM face_consents c WHERE c.person = p.person)"
    "   AS consent_until{credentials}"
    " FROM face_persons p WHERE p.site = ?"
)
# Whether a person holds a PIN / a card (never the values, which are sealed anyway).
_HOLDS = (
    ", EXISTS (SELECT 1 FROM face_credentials k WHERE k.person = p.person AND k.kind = 'pin')"
    "   AS pin,"
    " EXISTS (SELECT 1 FROM face_credentials k WHERE k.person = p.person AND k.kind = 'card')"
    "   AS card"
)
# Residents with a PIN or card and no face enrolment (they refused face recognition).
_WITHOUT_FACE = (
    " UNION ALL SELECT k.person, 'resident', min(k.created_at), 0, NULL,"
    " max(k.kind = 'pin'), max(k.kind = 'card') FROM face_credentials k"
    " WHERE k.site = ? AND k.person NOT IN (SELECT person FROM face_persons) GROUP BY k.person"
)


async def face_enrolment(store: Store, site: str) -> list[dict[str, Any]] | None:
    """Enrolment status per person from the face store's tables (hub.pedestrian_gate, ``face_*`` in
    the hub's database): role, when, how many encodings, consent validity, whether they hold
    a PIN or card. Never a photo (none are kept), never a PIN. None when the face store has
    not created its tables."""
    order = " ORDER BY role, person"
    try:
        return await rows(
            store, _FACES.format(credentials=_HOLDS) + _WITHOUT_FACE + order, [site, site]
        )
    except sqlite3.OperationalError:  # a face store from before PINs and cards were kept
        pass
    try:
        return await rows(store, _FACES.format(credentials="") + order, [site])
    except sqlite3.OperationalError:  # no such table: no enrolment service here yet
        return None
