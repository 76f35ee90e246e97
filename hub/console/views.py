"""Data for pages and API alike: one function per screen, returning plain values."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.console import carpark, queries
from hub.console.charts import Series, line_chart
from hub.console.events import event_by_id, event_view
from hub.console.passes import all_passes, console_passes
from hub.console.web import ConsoleState
from hub.store import from_iso
from models.site import SiteConfig


def local(
    when: datetime | str | None, tz: str = "Asia/Shanghai", fmt: str = "%m-%d %H:%M:%S"
) -> str:
    if isinstance(when, str):
        when = from_iso(when)
    return when.astimezone(ZoneInfo(tz)).strftime(fmt) if when else "—"


def parse_local(text: str, site: str, state: ConsoleState) -> datetime:
    """A form's ``datetime-local`` value, read in the community's time zone."""
    config = state.sites.get(site)
    tz = ZoneInfo(config.site.timezone if config else "Asia/Shanghai")
    try:
        return datetime.fromisoformat(text).replace(tzinfo=tz)
    except ValueError:
        raise ValueError(f"not a date and time: {text!r}") from None


async def gates(state: ConsoleState, config: SiteConfig) -> list[dict[str, Any]]:
    site = config.site.id
    positions = await queries.gate_positions(state.store, site)
    commands = await queries.last_commands(state.store, site)
    owner = {g: e.id for e in config.edges for g in e.gates}
    out = []
    for gate in config.gates:
        pos = positions.get(gate.id, {})
        cmd = commands.get(gate.id)
        out.append(
            {
                "site": site,
                "id": gate.id,
                "name": gate.name or gate.id,
                "type": gate.type.value,
                "device": owner.get(gate.id),
                "position": pos.get("position") or "unknown",
                "cause": pos.get("cause", ""),
                "since": pos.get("ts"),
                "last_command": {
                    "id": cmd["id"],
                    "action": cmd["action"],
                    "status": cmd["status"],
                    "operator": cmd["operator"],
                    "reason": cmd["reason"],
                    "sent_at": cmd["sent_at"],
                }
                if cmd
                else None,
            }
        )
    return out


async def carpark_data(state: ConsoleState, config: SiteConfig, now: datetime) -> dict[str, Any]:
    park = config.car_park
    if park is None:
        return {"configured": False}
    site, tz = config.site.id, ZoneInfo(config.site.timezone)
    day_start = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    before = carpark.latest_states(await queries.slot_readings(state.store, site, before=day_start))
    today = await queries.slot_readings(state.store, site, since=day_start)
    current = carpark.latest_states([*before.values(), *today])
    series = carpark.occupancy_series(before, today, day_start, now, timedelta(minutes=15))
    width = park.camera.width if park.camera else 1280
    height = park.camera.height if park.camera else 720
    labels = [t.astimezone(tz).strftime("%H:%M") for t, _ in series]
    chart = line_chart(
        labels,
        [Series("占用 occupied", [float(v) for _, v in series])],
        y_max=float(len(park.slots)),
        label_every=max(len(labels) // 6, 1),
        title="occupancy today",
    )
    zones = carpark.zone_counts(park, current)
    return {
        "configured": True,
        "width": width,
        "height": height,
        "capacity": park.capacity,
        "slots": carpark.slot_views(park, current),
        "zones": zones,
        "occupied": sum(z.occupied for z in zones),
        "known": len(current),
        "series": [(t.isoformat(), v) for t, v in series],
        "chart": chart,
        "has_data": bool(current),
    }


async def evidence(state: ConsoleState, ids: list[str], site: str) -> list[dict[str, Any]]:
    """The events a violation of ``site`` names; never another community's."""
    out = []
    for event_id in ids[:50]:
        row = await event_by_id(state.store, event_id)
        if row and row["site"] == site:
            out.append(event_view(row))
    return out


async def lists(state: ConsoleState, config: SiteConfig, now: datetime) -> dict[str, Any]:
    passes = all_passes(config, await console_passes(state.store, config.site.id), now)
    return {
        "residents": [r.model_dump() for r in config.vehicles.residents],
        "blacklist": [b.model_dump() for b in config.vehicles.blacklist],
        "passes": passes,
        "faces": await queries.face_enrolment(state.store, config.site.id),
    }
