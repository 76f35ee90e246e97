"""Event rows -> what the live page shows (pure), and the query that follows new events."""

from __future__ import annotations

import json
from typing import Any

from hub.console.i18n import code, plain
from hub.store import Store

# Heartbeats feed the device-health panel, not the event list.
QUIET_KINDS = frozenset({"heartbeat"})
LIVE_KINDS = (
    "plate_read",
    "gate_decision",
    "gate_state",
    "face_match",
    "alarm",
    "device_status",
    "slot_state",
    "command_ack",
)


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("payload")
    if isinstance(raw, dict):
        return raw
    try:
        parsed: dict[str, Any] = json.loads(raw or "{}")
        return parsed
    except ValueError:
        return {}


def summary(kind: str, p: dict[str, Any]) -> str:
    """One line saying what happened, bilingual where it names a verdict."""
    if kind == "plate_read":
        return f"{p.get('plate', '?')} ({p.get('color', '?')}, {p.get('confidence', 0):.2f})"
    if kind == "gate_decision":
        verdict = plain("verdict.open" if p.get("decision") == "open" else "verdict.refuse")
        why = ", ".join(
            w for w in (code("reason", p.get("reason")), code("cred", p.get("credential"))) if w
        )
        return f"{p.get('subject', '?')} → {verdict} ({why})"
    if kind == "gate_state":
        cause = f" ({p['cause']})" if p.get("cause") else ""
        cause = f" ({code('reason', p['cause'])})" if p.get("cause") else ""
        return f"{plain('pos.' + str(p.get('position', 'unknown')))}{cause}"
    if kind == "face_match":
        who = p.get("person") or plain("stranger")
        return f"{who} d={p.get('distance')} live={p.get('live')}"
    if kind == "alarm":
        what = code("vtype", p.get("type"))
        return f"{what} [{code('sev', p.get('severity'))}] {p.get('detail', '')}".strip()
    if kind == "device_status":
        state = plain("online") if p.get("online") else plain("offline")
        return f"{state} {p.get('reason', '')}".strip()
    if kind == "slot_state":
        state = plain("occupied") if p.get("occupied") else plain("free")
        return f"{p.get('slot')} {state} {p.get('plate') or ''}".strip()
    if kind == "command_ack":
        return f"{p.get('command_id', '')[:8]}… {p.get('result')} {p.get('detail', '')}".strip()
    return kind


# Steps of one vehicle passage the live list folds into its decision row: the read's crop
# is the decision's thumbnail and the barrier's movement updates the gate card.
PASSAGE_STEPS = frozenset({"plate_read", "gate_state", "command_ack"})


def event_view(row: dict[str, Any], gate_names: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON the live page renders for one stored event (``gate_names``: id -> name)."""
    p = _payload(row)
    kind = row["kind"]
    thumb = None
    if kind == "plate_read" and p.get("crop_jpeg_b64"):
        thumb = f"/api/events/{row['id']}/plate.jpg"
    elif kind == "gate_decision" and p.get("source_event") and p.get("credential") == "plate":
        thumb = f"/api/events/{p['source_event']}/plate.jpg"  # the read that decided it
    elif kind == "alarm" and p.get("crop_jpeg_b64"):
        thumb = f"/api/events/{row['id']}/face.jpg"  # face alarms only
    level = "info"
    if kind == "alarm":
        level = "critical" if p.get("severity") == "critical" else "warning"
    elif (kind == "gate_decision" and p.get("decision") == "refuse") or (
        kind == "device_status" and not p.get("online")
    ):
        level = "warning"
    return {
        "seq": row.get("seq"),
        "id": row["id"],
        "site": row["site"],
        "device": row["device"],
        "kind": kind,
        "kind_label": plain(f"kind.{kind}"),
        "ts": row["ts"],
        "received_at": row["received_at"],
        "gate": row.get("gate"),
        "gate_name": (gate_names or {}).get(row.get("gate") or "", row.get("gate") or ""),
        "passage_step": kind in PASSAGE_STEPS,
        "subject": row.get("subject"),
        "decision": row.get("decision"),
        "summary": summary(kind, p),
        "thumb": thumb,
        "level": level,
        "position": p.get("position") if kind == "gate_state" else None,
    }


def _in(column: str, values: list[str]) -> tuple[str, list[str]]:
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


async def events_after(
    store: Store,
    sites: list[str],
    after: int,
    *,
    kind: str | None = None,
    gate: str | None = None,
    limit: int = 100,
    newest: bool = False,
) -> list[dict[str, Any]]:
    """Stored events with rowid > ``after`` (oldest first; the newest ``limit`` when
    ``newest``), for the given communities.

    Events are inserted in arrival order, so the rowid is the order the hub stored them.
    """
    if not sites:
        return []
    where, params = _in("site", sites)
    clauses = [where, "rowid > ?"]
    params.append(after)  # type: ignore[arg-type]
    if kind:
        clauses.append("kind = ?")
        params.append(kind)
    else:
        clauses.append(f"kind NOT IN ({', '.join(repr(k) for k in sorted(QUIET_KINDS))})")
    if gate:
        clauses.append("gate = ?")
        params.append(gate)
    sql = (
        "SELECT rowid AS seq, id, site, device, kind, ts, received_at, gate, subject, decision,"
        f" payload FROM events WHERE {' AND '.join(clauses)}"
        f" ORDER BY rowid {'DESC' if newest else ''} LIMIT ?"
    )
    async with store.reader.execute(sql, [*params, limit]) as cur:
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]
    return rows[::-1] if newest else rows


async def recent_events(
    store: Store, sites: list[str], *, kind: str | None = None, gate: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:  # fmt: skip
    """The newest ``limit`` events, oldest first (the page's first screen)."""
    return await events_after(store, sites, 0, kind=kind, gate=gate, limit=limit, newest=True)


async def last_seq(store: Store) -> int:
    async with store.reader.execute("SELECT coalesce(max(rowid), 0) FROM events") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def event_by_id(store: Store, event_id: str) -> dict[str, Any] | None:
    async with store.reader.execute(
        "SELECT rowid AS seq, * FROM events WHERE id = ?", (event_id,)
    ) as cur:
        names = [d[0] for d in cur.description]
        row = await cur.fetchone()
    return dict(zip(names, row, strict=True)) if row else None
