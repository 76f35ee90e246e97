"""Who is inside the car park: entries and exits at the gates, linked to slots.

Pure bookkeeping (times are seconds): the gates report plates in and out; the slot
tracker reports bays becoming occupied or free. A bay that fills is linked to a car that
entered recently and has not parked yet (a resident assigned to that bay first, otherwise
the earliest arrival), which is how a slot's plate becomes "known" without a camera
reading plates in the car park. The ledger answers the gate's question "may another
visitor car come in?" from capacity, the visitor quota and, when given, free bays.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


@dataclass
class Visit:
    plate: str
    entered_at: float
    visitor: bool
    pass_id: str | None = None
    pass_until: float | None = None
    gate: str | None = None
    exited_at: float | None = None
    slot: str | None = None
    parked_at: float | None = None
    exit_missed: bool = False  # the car was seen entering again without an exit


class AdmitReason(StrEnum):
    OK = "ok"
    CAPACITY_FULL = "capacity_full"
    VISITOR_QUOTA_FULL = "visitor_quota_full"
    NO_FREE_SLOT = "no_free_slot"


@dataclass(frozen=True, slots=True)
class Overstay:
    plate: str
    pass_id: str | None
    pass_until: float
    overstay_s: float
    entered_at: float
    slot: str | None


class CarParkLedger:
    def __init__(
        self,
        capacity: int,
        visitor_quota: int,
        *,
        min_drive_s: float = 5.0,
        max_drive_s: float = 900.0,
    ) -> None:
        if capacity < 1 or visitor_quota < 0:
            raise ValueError("capacity must be >= 1 and visitor_quota >= 0")
        self.capacity = capacity
        self.visitor_quota = visitor_quota
        self.min_drive_s = min_drive_s
        self.max_drive_s = max_drive_s
        self._inside: dict[str, Visit] = {}
        self.history: list[Visit] = []
        self.unmatched_exits: list[tuple[str, float]] = []

    # ---- gates

    def enter(
        self,
        plate: str,
        t: float,
        *,
        visitor: bool = False,
        pass_id: str | None = None,
        pass_until: float | None = None,
        gate: str | None = None,
    ) -> Visit:
        old = self._inside.pop(plate, None)
        if old is not None:  # its exit was never read: close the old visit as missed
            old.exit_missed = True
            self.history.append(old)
        visit = Visit(plate, t, visitor, pass_id, pass_until, gate)
        self._inside[plate] = visit
        return visit

    def exit(self, plate: str, t: float) -> Visit | None:
        visit = self._inside.pop(plate, None)
        if visit is None:
            self.unmatched_exits.append((plate, t))
            return None
        visit.exited_at = t
        self.history.append(visit)
        return visit

    def inside(self) -> list[Visit]:
        return sorted(self._inside.values(), key=lambda v: v.entered_at)

    def visitors_inside(self) -> int:
        return sum(1 for v in self._inside.values() if v.visitor)

    def visit(self, plate: str) -> Visit | None:
        return self._inside.get(plate)

    def may_admit_visitor(self, *, free_slots: int | None = None) -> tuple[bool, AdmitReason]:
        """Refuse when the car park (capacity, or no free bay when known) or the visitor
        quota is full. Residents are not limited here."""
        if len(self._inside) >= self.capacity:
            return False, AdmitReason.CAPACITY_FULL
        if free_slots is not None and free_slots <= 0:
            return False, AdmitReason.NO_FREE_SLOT
        if self.visitors_inside() >= self.visitor_quota:
            return False, AdmitReason.VISITOR_QUOTA_FULL
        return True, AdmitReason.OK

    def overstays(self, now: float, grace_s: float = 0.0) -> list[Overstay]:
        out = []
        for v in self.inside():
            if v.visitor and v.pass_until is not None and now > v.pass_until + grace_s:
                out.append(
                    Overstay(
                        v.plate, v.pass_id, v.pass_until, now - v.pass_until, v.entered_at, v.slot
                    )
                )
        return out

    # ---- slots

    def park(self, slot: str, t: float, prefer: Iterable[str] = ()) -> str | None:
        """A bay became occupied at ``t``: link it to a car that entered between
        ``max_drive_s`` and ``min_drive_s`` before and has no bay yet. Returns its plate."""
        candidates = [
            v
            for v in self.inside()
            if v.slot is None and t - self.max_drive_s <= v.entered_at <= t - self.min_drive_s
        ]
        if not candidates:
            return None
        preferred = set(prefer)
        chosen = next((v for v in candidates if v.plate in preferred), candidates[0])
        chosen.slot = slot
        chosen.parked_at = t
        return chosen.plate

    def unpark(self, slot: str, t: float) -> str | None:
        for v in self._inside.values():
            if v.slot == slot:
                v.slot = None
                return v.plate
        return None

    def plate_in(self, slot: str) -> str | None:
        return next((v.plate for v in self._inside.values() if v.slot == slot), None)
