"""Parking rules as pure functions: slot states + ledger facts -> violation candidates.

Rules and thresholds come from the site config (zone kinds and ``max_minutes``); the hub
decides what becomes a violation record, these functions only say what the facts show.
Each candidate carries its evidence: slot, zone, start, duration, plate when known and the
crop box for a snapshot. ``key`` is stable for one parking episode, so the same car in the
same fire lane is reported once (see ``ViolationLatch``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from edge.car_park.ledger import Overstay
from recognition.parking.geometry import Box


class ViolationKind(StrEnum):
    FIRE_LANE = "fire_lane"
    NO_PARKING = "no_parking"
    RESERVED_SLOT = "reserved_slot"
    VISITOR_OVERSTAY = "visitor_overstay"
    OUTSIDE_MARKED_SLOTS = "outside_marked_slots"


# Zone kinds (models.site.ZoneKind values, plus "unmarked" for watched aisle regions).
TIMED_ZONE_KINDS: dict[str, ViolationKind] = {
    "fire_lane": ViolationKind.FIRE_LANE,
    "no_parking": ViolationKind.NO_PARKING,
    "unmarked": ViolationKind.OUTSIDE_MARKED_SLOTS,
}
DEFAULT_MAX_MINUTES = {"fire_lane": 2.0, "no_parking": 10.0, "unmarked": 10.0}


@dataclass(frozen=True, slots=True)
class ZoneRule:
    kind: str  # general | reserved | visitor | fire_lane | no_parking | unmarked
    max_minutes: float | None = None


@dataclass(frozen=True, slots=True)
class SlotStatus:
    slot: str
    zone: str
    occupied: bool
    since: float
    plate: str | None = None
    box: Box | None = None


@dataclass(frozen=True, slots=True)
class ViolationCandidate:
    kind: ViolationKind
    key: str
    detected_at: float
    start: float
    duration_s: float
    slot: str | None = None
    zone: str | None = None
    plate: str | None = None
    box: Box | None = None
    detail: str = ""


def timed_zone_violations(
    statuses: Iterable[SlotStatus], zones: Mapping[str, ZoneRule], now: float
) -> list[ViolationCandidate]:
    """Fire lane / no-parking / unmarked region occupied longer than its ``max_minutes``."""
    out = []
    for s in statuses:
        rule = zones.get(s.zone)
        if rule is None or rule.kind not in TIMED_ZONE_KINDS or not s.occupied:
            continue
        limit_s = 60.0 * (rule.max_minutes or DEFAULT_MAX_MINUTES[rule.kind])
        duration = now - s.since
        if duration >= limit_s:
            kind = TIMED_ZONE_KINDS[rule.kind]
            out.append(
                ViolationCandidate(
                    kind=kind,
                    key=f"{kind}:{s.slot}:{s.since:.0f}",
                    detected_at=now,
                    start=s.since,
                    duration_s=duration,
                    slot=s.slot,
                    zone=s.zone,
                    plate=s.plate,
                    box=s.box,
                    detail=f"{s.zone} {s.slot} occupied {duration / 60:.1f} min"
                    f" (limit {limit_s / 60:g})",
                )
            )
    return out


def reserved_slot_violations(
    statuses: Iterable[SlotStatus],
    reserved_for: Mapping[str, Iterable[str]],
    now: float,
    grace_s: float = 60.0,
) -> list[ViolationCandidate]:
    """A reserved bay occupied by a *known* plate that is not assigned to it. An unknown
    plate is not a violation: the facts do not show one."""
    out = []
    for s in statuses:
        allowed = reserved_for.get(s.slot)
        if not allowed or not s.occupied or s.plate is None or s.plate in set(allowed):
            continue
        duration = now - s.since
        if duration < grace_s:
            continue
        out.append(
            ViolationCandidate(
                kind=ViolationKind.RESERVED_SLOT,
                key=f"reserved_slot:{s.slot}:{s.since:.0f}:{s.plate}",
                detected_at=now,
                start=s.since,
                duration_s=duration,
                slot=s.slot,
                zone=s.zone,
                plate=s.plate,
                box=s.box,
                detail=f"{s.plate} in {s.slot}, reserved for {', '.join(sorted(allowed))}",
            )
        )
    return out


def visitor_overstay_violations(
    overstays: Iterable[Overstay], now: float, boxes: Mapping[str, Box] | None = None
) -> list[ViolationCandidate]:
    out = []
    for o in overstays:
        out.append(
            ViolationCandidate(
                kind=ViolationKind.VISITOR_OVERSTAY,
                key=f"visitor_overstay:{o.plate}:{o.entered_at:.0f}",
                detected_at=now,
                start=o.pass_until,
                duration_s=o.overstay_s,
                slot=o.slot,
                plate=o.plate,
                box=(boxes or {}).get(o.slot) if o.slot else None,
                detail=f"pass {o.pass_id or '?'} expired {o.overstay_s / 60:.0f} min ago",
            )
        )
    return out


class ViolationLatch:
    """Lets each violation episode through once (by ``key``)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def new(self, candidates: Iterable[ViolationCandidate]) -> list[ViolationCandidate]:
        fresh = [c for c in candidates if c.key not in self._seen]
        for c in fresh:
            self._seen[c.key] = c.detected_at
        return fresh

    def forget_before(self, t: float) -> None:
        self._seen = {k: v for k, v in self._seen.items() if v >= t}
