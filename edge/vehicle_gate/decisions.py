"""Pure gate decisions: who may pass, from a voted plate read and the locally cached lists.

No I/O and no clock: the caller passes ``now``. The lists are cached on the edge so that a
gate keeps deciding with the hub and the broker down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from models.messages import Decision, DecisionReason, VehicleList
from models.plate import normalize_plate
from models.site import Vehicles

SEED_VERSION = 0  # lists seeded from the site config, before any hub sync arrived


@dataclass(frozen=True, slots=True)
class PassWindow:
    pass_id: str
    valid_from: datetime
    valid_until: datetime  # exclusive

    def valid_at(self, when: datetime) -> bool:
        return self.valid_from <= when < self.valid_until


@dataclass(frozen=True, slots=True)
class LocalLists:
    """The lists one edge decides with; plates are normalised (``浙HA1234``)."""

    version: int
    residents: frozenset[str] = frozenset()
    blacklist: Mapping[str, str] = field(default_factory=dict)  # plate -> reason
    passes: Mapping[str, tuple[PassWindow, ...]] = field(default_factory=dict)

    @classmethod
    def from_vehicle_list(cls, lists: VehicleList) -> LocalLists:
        return cls._build(
            lists.version,
            [v.plate for v in lists.residents],
            {normalize_plate(v.plate): v.note for v in lists.blacklist},
            [
                (p.plate, PassWindow(p.id, p.valid_from, p.valid_until))
                for p in lists.visitor_passes
            ],
        )

    @classmethod
    def from_site_vehicles(cls, vehicles: Vehicles) -> LocalLists:
        return cls._build(
            SEED_VERSION,
            [v.plate for v in vehicles.residents],
            {normalize_plate(v.plate): v.reason for v in vehicles.blacklist},
            [
                (p.plate, PassWindow(p.id, p.valid_from, p.valid_until))
                for p in vehicles.visitor_passes
            ],
        )

    @classmethod
    def _build(
        cls,
        version: int,
        residents: list[str],
        blacklist: dict[str, str],
        passes: list[tuple[str, PassWindow]],
    ) -> LocalLists:
        by_plate: dict[str, list[PassWindow]] = {}
        for plate, window in passes:
            by_plate.setdefault(normalize_plate(plate), []).append(window)
        return cls(
            version=version,
            residents=frozenset(normalize_plate(p) for p in residents),
            blacklist=blacklist,
            passes={p: tuple(ws) for p, ws in by_plate.items()},
        )


class Entrant(StrEnum):
    """The kind of vehicle about to enter, as a capacity check needs it."""

    RESIDENT = "resident"
    VISITOR = "visitor"


class CapacityCheck(Protocol):
    """Hook for the car park (edge/car_park): is there room for this entrant now?"""

    def has_room(self, entrant: Entrant, plate: str, now: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class PlateEvidence:
    """The voted read the decision is based on."""

    plate: str
    confidence: float


@dataclass(frozen=True, slots=True)
class VehicleDecision:
    plate: str
    decision: Decision
    reason: DecisionReason
    list_version: int
    detail: str = ""

    @property
    def opens(self) -> bool:
        return self.decision is Decision.OPEN


def decide_vehicle(
    read: PlateEvidence,
    lists: LocalLists,
    now: datetime,
    *,
    min_confidence: float,
    capacity: CapacityCheck | None = None,
    direction: str = "both",
) -> VehicleDecision:
    """Decide one vehicle at a barrier.

    Order matters: an unsure read decides nothing about the plate (the caller keeps reading);
    a blacklisted plate is refused even when it also holds a pass or a resident entry.
    ``direction`` "out" (an exit-only gate): every read vehicle is let out, a blacklisted one
    too (the barrier must not trap a car inside; the read and decision are still recorded,
    and the detail says it was blacklisted).
    """
    plate = normalize_plate(read.plate)

    def result(decision: Decision, reason: DecisionReason, detail: str = "") -> VehicleDecision:
        return VehicleDecision(plate, decision, reason, lists.version, detail)

    if read.confidence < min_confidence:
        return result(
            Decision.REFUSE,
            DecisionReason.LOW_CONFIDENCE,
            f"confidence {read.confidence:.2f} < {min_confidence:.2f}",
        )
    if direction == "out":
        banned = lists.blacklist.get(plate)
        return result(
            Decision.OPEN, DecisionReason.EXIT, f"blacklisted: {banned}" if banned else ""
        )
    if plate in lists.blacklist:
        return result(Decision.REFUSE, DecisionReason.BLACKLISTED, lists.blacklist[plate])

    if plate in lists.residents:
        entrant, granted = Entrant.RESIDENT, result(Decision.OPEN, DecisionReason.RESIDENT)
    else:
        windows = lists.passes.get(plate, ())
        valid = [w for w in windows if w.valid_at(now)]
        if valid:
            entrant = Entrant.VISITOR
            granted = result(Decision.OPEN, DecisionReason.VISITOR_PASS, valid[0].pass_id)
        elif any(now < w.valid_from for w in windows):
            first = min(w.valid_from for w in windows if now < w.valid_from)
            return result(
                Decision.REFUSE,
                DecisionReason.PASS_NOT_YET_VALID,
                f"valid from {first.isoformat()}",
            )
        elif windows:
            last = max(w.valid_until for w in windows)
            return result(
                Decision.REFUSE, DecisionReason.PASS_EXPIRED, f"expired {last.isoformat()}"
            )
        else:
            return result(Decision.REFUSE, DecisionReason.UNKNOWN)

    if capacity is not None and not capacity.has_room(entrant, plate, now):
        return result(Decision.REFUSE, DecisionReason.CAPACITY_FULL, f"no room for {entrant}")
    return granted
