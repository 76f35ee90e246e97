"""Visitor passes created in the console, with a QR code for the visitor's phone.

The QR code carries ``anju-pass:{site}:{pass id}:{token}``; the token is random (not
derived from the plate or times), so a pass cannot be forged from what it shows.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import segno

from hub.service import Hub
from hub.store import Store, from_iso, iso
from models.messages import ListedPass
from models.plate import normalize_plate, plate_error
from models.site import SiteConfig

MAX_HOURS = 24 * 7


class PassError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class NewPass:
    site: str
    plate: str
    host_unit: str
    valid_from: datetime
    valid_until: datetime


def check_pass(site: str, plate: str, host_unit: str, hours: float, now: datetime) -> NewPass:
    """Validate what the form asked for (pure)."""
    plate = normalize_plate(plate)
    if reason := plate_error(plate):
        raise PassError(f"{plate!r} is not a plate: {reason}")
    if not 0 < hours <= MAX_HOURS:
        raise PassError(f"a pass lasts more than 0 and at most {MAX_HOURS} hours")
    host_unit = host_unit.strip()
    if not host_unit or len(host_unit) > 32:
        raise PassError("name the host unit (up to 32 characters)")
    return NewPass(site, plate, host_unit, now, now + timedelta(hours=hours))


def qr_payload(site: str, pass_id: str, token: str) -> str:
    return f"anju-pass:{site}:{pass_id}:{token}"


def qr_svg(text: str) -> str:
    """An inline SVG QR code (error correction M, black on white)."""
    return segno.make(text, error="m").svg_inline(scale=5, dark="#000", light="#fff")


async def create_pass(store: Store, new: NewPass, *, actor: str) -> dict[str, Any]:
    pass_id = "C" + secrets.token_hex(4).upper()
    row = {
        "id": pass_id,
        "site": new.site,
        "plate": new.plate,
        "host_unit": new.host_unit,
        "valid_from": iso(new.valid_from),
        "valid_until": iso(new.valid_until),
        "token": secrets.token_urlsafe(18),
        "created_by": actor,
        "created_at": iso(new.valid_from),
    }
    async with store.transaction():
        await store.db.execute(
            f"INSERT INTO console_visitor_passes ({', '.join(row)})"
            f" VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )
        public = {k: v for k, v in row.items() if k != "token"}
        await store.audit(actor, "visitor_pass.create", f"pass/{new.site}/{pass_id}", None,
                          public, new.valid_from)  # fmt: skip
    return row


async def console_passes(store: Store, site: str) -> list[dict[str, Any]]:
    async with store.reader.execute(
        "SELECT * FROM console_visitor_passes WHERE site = ? ORDER BY created_at DESC LIMIT 200",
        (site,),
    ) as cur:
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]


def all_passes(
    config: SiteConfig, console_rows: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """Passes from the site config and from the console, newest first, with validity."""
    rows: list[dict[str, Any]] = [
        {
            "id": p.id,
            "plate": p.plate,
            "host_unit": p.host_unit,
            "valid_from": p.valid_from,
            "valid_until": p.valid_until,
            "source": "config",
        }
        for p in config.vehicles.visitor_passes
    ]
    for r in console_rows:
        rows.append(
            {
                "id": r["id"],
                "plate": r["plate"],
                "host_unit": r["host_unit"],
                "valid_from": from_iso(r["valid_from"]),
                "valid_until": from_iso(r["valid_until"]),
                "source": "console",
            }
        )
    for r in rows:
        r["valid_now"] = r["valid_from"] <= now < r["valid_until"]
    return sorted(rows, key=lambda r: r["valid_from"], reverse=True)


def listed_passes(console_rows: list[dict[str, Any]], now: datetime) -> list[ListedPass]:
    """Console passes still usable at ``now``, in the form the edges decide with (pure)."""
    listed = []
    for row in console_rows:
        until = datetime.fromisoformat(row["valid_until"])  # NOT NULL in the table
        if until > now:
            listed.append(
                ListedPass(
                    id=row["id"],
                    plate=row["plate"],
                    valid_from=from_iso(row["valid_from"]),
                    valid_until=until,
                )
            )
    return listed


async def sync_passes(hub: Hub, site: str, now: datetime) -> int:
    """Republish the site's vehicle list with the console's live passes; returns its version."""
    assert hub.store is not None
    rows = await console_passes(hub.store, site)
    return await hub.publish_vehicle_list(site, extra_passes=listed_passes(rows, now))
