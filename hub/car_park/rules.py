"""Parking violation rules, pure: slot facts + zone config + gate decisions -> effects.

The car-park edge reports slot changes (``slot_state``); the hub keeps the newest fact per
slot (``ParkingState``) and turns it into violations:

- fire lane / no-parking bay occupied longer than the zone's ``max_minutes``: opened by the
  watchdog (``due_violations``) once the time has passed, not only on the next event, and
  resolved when the slot frees;
- a reserved bay taken by a known plate that is not assigned to it: opened on the event,
  resolved when the slot frees;
- a visitor still inside after the pass ended (entry from a ``visitor_pass`` gate decision,
  the pass window from the site config): opened by the watchdog, resolved by an exit
  (a later decision for the plate at an ``out`` gate, or the next one at a ``both`` gate).

Each violation's evidence is the event ids (the occupying ``slot_state`` carries the crop);
the detail names slot, zone, since, duration and plate.
No I/O and no clock here: the caller passes ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from hub.rules import Effect, OpenViolation, ResolveViolation, ViolationType
from models.messages import (
    Decision,
    DecisionReason,
    GateDecisionMessage,
    Severity,
    SlotStateMessage,
)
from models.site import CarPark, SiteConfig, ZoneKind

# Zone kinds with a time limit, the violation they become and the default limit (minutes).
TIMED_ZONES: dict[ZoneKind, tuple[ViolationType, float]] = {
    ZoneKind.FIRE_LANE: (ViolationType.FIRE_LANE_PARKING, 2.0),
    ZoneKind.NO_PARKING: (ViolationType.NO_PARKING, 10.0),
    ZoneKind.UNMARKED: (ViolationType.OUTSIDE_MARKED_SLOTS, 10.0),
}
SLOT_TYPES = (
    ViolationType.FIRE_LANE_PARKING,
    ViolationType.NO_PARKING,
    ViolationType.RESERVED_SLOT,
    ViolationType.OUTSIDE_MARKED_SLOTS,
)


def slot_key(kind: ViolationType, site: str, slot: str) -> str:
    return f"{kind}:{site}:{slot}"


def overstay_key(site: str, plate: str, entered: datetime) -> str:
    return f"{ViolationType.VISITOR_OVERSTAY}:{site}:{plate}:{entered.isoformat()}"


@dataclass(frozen=True, slots=True)
class SlotFact:
    """The newest known state of one slot, from its last ``slot_state`` event."""

    site: str
    device: str
    slot: str
    occupied: bool
    since: datetime
    plate: str | None
    event_id: str


@dataclass(frozen=True, slots=True)
class VisitorVisit:
    site: str
    device: str
    gate: str
    plate: str
    entered: datetime
    pass_id: str
    valid_until: datetime
    event_id: str


@dataclass
class ParkingState:
    """What the rules need to remember between events (kept by the recorder)."""

    slots: dict[tuple[str, str], SlotFact] = field(default_factory=dict)
    visitors: dict[tuple[str, str], VisitorVisit] = field(default_factory=dict)


def _zone_of(car_park: CarPark, slot: str) -> tuple[str, ZoneKind, float | None] | None:
    for s in car_park.slots:
        if s.id == slot:
            zone = next(z for z in car_park.zones if z.id == s.zone)
            return zone.id, zone.kind, zone.max_minutes
    return None


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def on_slot_state(
    message: SlotStateMessage, site: SiteConfig, state: ParkingState, open_keys: frozenset[str]
) -> list[Effect]:
    """Remember the slot's new state; a freed slot resolves its open violations, a reserved
    bay taken by a known, non-assigned plate opens one."""
    payload = message.payload
    key = (message.site, payload.slot)
    previous = state.slots.get(key)
    if previous is not None and previous.since > payload.since:
        return []  # an older fact arriving late (redelivery after an outage) changes nothing
    fact = SlotFact(
        message.site,
        message.device,
        payload.slot,
        payload.occupied,
        payload.since,
        payload.plate,
        message.id,
    )
    state.slots[key] = fact
    effects: list[Effect] = []
    if not payload.occupied:
        for kind in SLOT_TYPES:
            open_key = slot_key(kind, message.site, payload.slot)
            if open_key in open_keys:
                effects.append(
                    ResolveViolation(
                        open_key=open_key,
                        at=payload.since,
                        detail=f"slot {payload.slot} free since {_fmt(payload.since)}",
                        evidence=(message.id,),
                    )
                )
        return effects
    car_park = site.car_park
    where = _zone_of(car_park, payload.slot) if car_park else None
    if car_park is None or where is None:
        return effects
    slot = next(s for s in car_park.slots if s.id == payload.slot)
    taken = where[1] is ZoneKind.RESERVED and slot.reserved_for and payload.plate
    if not taken or payload.plate in slot.reserved_for:
        return effects
    effects.append(
        OpenViolation(
            type=ViolationType.RESERVED_SLOT,
            severity=Severity.WARNING,
            site=message.site,
            device=message.device,
            gate=None,
            subject=payload.slot,
            at=payload.since,
            detail=(
                f"{payload.plate} in reserved slot {payload.slot} (zone {where[0]}),"
                f" reserved for {', '.join(slot.reserved_for)}; since"
                f" {_fmt(payload.since)}"
            ),
            evidence=(message.id,),
            open_key=slot_key(ViolationType.RESERVED_SLOT, message.site, payload.slot),
        )
    )
    return effects


def due_violations(
    state: ParkingState,
    sites: Mapping[str, SiteConfig],
    now: datetime,
    open_keys: frozenset[str],
) -> list[OpenViolation]:
    """Fire lane / no-parking bays occupied beyond their zone's limit, and visitors past
    their pass, that have no open violation yet."""
    found: list[OpenViolation] = []
    for fact in state.slots.values():
        site = sites.get(fact.site)
        if not fact.occupied or site is None or site.car_park is None:
            continue
        where = _zone_of(site.car_park, fact.slot)
        if where is None or where[1] not in TIMED_ZONES:
            continue
        zone, zone_kind, max_minutes = where
        kind, default_minutes = TIMED_ZONES[zone_kind]
        limit_s = 60.0 * (max_minutes or default_minutes)
        duration = (now - fact.since).total_seconds()
        key = slot_key(kind, fact.site, fact.slot)
        if duration < limit_s or key in open_keys:
            continue
        plate = f", plate {fact.plate}" if fact.plate else ", plate unknown"
        found.append(
            OpenViolation(
                type=kind,
                severity=Severity.CRITICAL
                if kind is ViolationType.FIRE_LANE_PARKING
                else Severity.WARNING,
                site=fact.site,
                device=fact.device,
                gate=None,
                subject=fact.slot,
                at=now,
                detail=(
                    f"slot {fact.slot} (zone {zone}, {zone_kind}) occupied since"
                    f" {_fmt(fact.since)} for {duration / 60:.1f} min, limit"
                    f" {limit_s / 60:g} min{plate}"
                ),
                evidence=(fact.event_id,),
                open_key=key,
            )
        )
    for visit in state.visitors.values():
        overstay = overstay_key(visit.site, visit.plate, visit.entered)
        if now <= visit.valid_until or overstay in open_keys:
            continue
        over = (now - visit.valid_until).total_seconds()
        parked = [f.slot for f in state.slots.values() if f.occupied and f.plate == visit.plate]
        parked_in = f", parked in {parked[0]}" if parked else ""
        found.append(
            OpenViolation(
                type=ViolationType.VISITOR_OVERSTAY,
                severity=Severity.WARNING,
                site=visit.site,
                device=visit.device,
                gate=visit.gate,
                subject=visit.plate,
                at=now,
                detail=(
                    f"visitor {visit.plate} entered {_fmt(visit.entered)} on pass"
                    f" {visit.pass_id}, valid until {_fmt(visit.valid_until)}; still inside"
                    f" {over / 60:.1f} min later{parked_in}"
                ),
                evidence=(visit.event_id,),
                open_key=overstay,
            )
        )
    return found


def _pass_until(site: SiteConfig, plate: str, at: datetime) -> tuple[str, datetime] | None:
    for p in site.vehicles.visitor_passes:
        if p.plate == plate and p.valid_at(at):
            return p.id, p.valid_until
    return None


def on_gate_decision(
    message: GateDecisionMessage, site: SiteConfig, state: ParkingState, open_keys: frozenset[str]
) -> list[Effect]:
    """Track visitors in and out. An entry is an ``open`` for a visitor pass; an exit is a
    later decision for the same plate at an ``out`` gate or at a ``both`` gate."""
    decision = message.payload
    key = (message.site, decision.subject)
    visit = state.visitors.get(key)
    direction = next((g.direction for g in site.gates if g.id == decision.gate), "both")
    if visit is not None and direction in ("out", "both") and message.ts > visit.entered:
        del state.visitors[key]
        open_key = overstay_key(visit.site, visit.plate, visit.entered)
        if open_key in open_keys:
            return [
                ResolveViolation(
                    open_key=open_key,
                    at=message.ts,
                    detail=f"visitor {visit.plate} left at {decision.gate}",
                    evidence=(message.id,),
                )
            ]
        return []
    if (
        visit is None
        and decision.decision is Decision.OPEN
        and decision.reason is DecisionReason.VISITOR_PASS
        and direction in ("in", "both")
    ):
        window = _pass_until(site, decision.subject, message.ts)
        if window is not None:
            state.visitors[key] = VisitorVisit(
                message.site,
                message.device,
                decision.gate,
                decision.subject,
                message.ts,
                window[0],
                window[1],
                message.id,
            )
    return []


def shortest_limit_s(sites: Mapping[str, SiteConfig]) -> float | None:
    """The shortest fire-lane/no-parking limit over the sites (sets the watchdog's pace)."""
    limits = [
        60.0 * (z.max_minutes or TIMED_ZONES[z.kind][1])
        for s in sites.values()
        if s.car_park
        for z in s.car_park.zones
        if z.kind in TIMED_ZONES
    ]
    return min(limits) if limits else None
