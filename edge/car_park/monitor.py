"""The car-park pipeline in one object, free of I/O: frames or sensor readings in,
slot changes, snapshots and violation candidates (with evidence crops) out.

detector / sensors -> SlotTracker (debounce) -> CarParkLedger (plates) -> rules -> latch.
The edge agent feeds it and publishes what it returns; tests and the benchmark drive it
from the simulator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from edge.car_park.evidence import crop_jpeg
from edge.car_park.ledger import AdmitReason, CarParkLedger
from edge.car_park.rules import (
    SlotStatus,
    ViolationCandidate,
    ViolationLatch,
    ZoneRule,
    reserved_slot_violations,
    timed_zone_violations,
    visitor_overstay_violations,
)
from edge.car_park.sensors import MagReadingLike, SensorBank
from edge.car_park.slots import (
    SENSOR_DEBOUNCE,
    CarParkSnapshot,
    DebounceConfig,
    SlotChange,
    SlotTracker,
    Source,
)
from models.messages import SlotState
from recognition.parking.detector import SlotObservation, SlotOccupancyDetector
from recognition.parking.geometry import Box, SlotLike, bounding_box

VISITOR_USABLE_KINDS = ("general", "visitor")


@dataclass(frozen=True, slots=True)
class Evidence:
    candidate: ViolationCandidate
    jpeg: bytes | None


@dataclass
class MonitorUpdate:
    changes: list[SlotChange] = field(default_factory=list)
    snapshot: CarParkSnapshot | None = None
    violations: list[Evidence] = field(default_factory=list)
    observations: dict[str, object] = field(default_factory=dict)


def zone_rules(zones: Iterable[Any]) -> dict[str, ZoneRule]:
    """Zone rules from config zones (anything with ``id``, ``kind``, ``max_minutes``)."""
    return {z.id: ZoneRule(str(getattr(z.kind, "value", z.kind)), z.max_minutes) for z in zones}


class CarParkMonitor:
    @classmethod
    def from_config(cls, car_park: Any, **kwargs: Any) -> CarParkMonitor:
        """Build from ``models.site.CarPark`` (slots, zones, capacity, visitor quota, camera
        size); ``kwargs`` go to the constructor."""
        if car_park.camera is not None:
            kwargs.setdefault("frame_size", (car_park.camera.width, car_park.camera.height))
        return cls(
            car_park.slots,
            zone_rules(car_park.zones),
            capacity=car_park.capacity,
            visitor_quota=car_park.visitor_quota,
            **kwargs,
        )

    def __init__(
        self,
        slots: Sequence[SlotLike],
        zones: Mapping[str, ZoneRule],
        *,
        capacity: int,
        visitor_quota: int,
        frame_size: tuple[int, int] = (1280, 720),
        debounce: DebounceConfig | None = None,
        source: Source = "camera",
        snapshot_every_s: float = 60.0,
        detector: SlotOccupancyDetector | None = None,
        overstay_grace_s: float = 0.0,
    ) -> None:
        self.slots = list(slots)
        self.zones = dict(zones)
        self.frame_size = frame_size
        if debounce is None:
            debounce = SENSOR_DEBOUNCE if source == "sensor" else DebounceConfig()
        self.tracker = SlotTracker(
            {s.id: s.zone for s in self.slots},
            debounce,
            source=source,
            snapshot_every_s=snapshot_every_s,
        )
        self.ledger = CarParkLedger(capacity, visitor_quota)
        self.detector = detector
        self.sensors = SensorBank([s.id for s in self.slots]) if source == "sensor" else None
        self.reserved_for = {s.id: tuple(getattr(s, "reserved_for", ()) or ()) for s in self.slots}
        self.boxes: dict[str, Box] = {s.id: bounding_box(s.polygon, frame_size) for s in self.slots}
        self.latch = ViolationLatch()
        self.overstay_grace_s = overstay_grace_s
        self.plates: dict[str, str | None] = {}

    # ---- inputs

    def on_frame(self, frame_bgr: np.ndarray, t: float) -> MonitorUpdate:
        if self.detector is None:
            self.detector = SlotOccupancyDetector(self.slots)
        obs: dict[str, SlotObservation] = self.detector.update(frame_bgr, t)
        return self._step(obs, t, frame_bgr)

    def on_readings(self, readings: Iterable[MagReadingLike], t: float) -> MonitorUpdate:
        if self.sensors is None:
            raise RuntimeError("monitor was built for the camera; use source='sensor'")
        return self._step(self.sensors.update(readings), t, None)

    def on_gate(
        self,
        plate: str,
        t: float,
        direction: str,
        *,
        visitor: bool = False,
        pass_id: str | None = None,
        pass_until: float | None = None,
        gate: str | None = None,
    ) -> None:
        if direction == "in":
            self.ledger.enter(
                plate, t, visitor=visitor, pass_id=pass_id, pass_until=pass_until, gate=gate
            )
        else:
            self.ledger.exit(plate, t)

    def may_admit_visitor(self) -> tuple[bool, AdmitReason]:
        usable = [z for z, r in self.zones.items() if r.kind in VISITOR_USABLE_KINDS]
        known = any(m.occupied is not None for m in self.tracker.machines.values())
        free = self.tracker.free_in(usable) if known else None
        return self.ledger.may_admit_visitor(free_slots=free)

    # ---- pipeline

    def _step(self, obs: Mapping[str, object], t: float, frame: np.ndarray | None) -> MonitorUpdate:
        changes = self.tracker.update(obs, t)
        for c in changes:
            if c.occupied:
                self.plates[c.slot] = self.ledger.park(c.slot, c.since, self.reserved_for[c.slot])
            else:
                self.ledger.unpark(c.slot, c.since)
                self.plates[c.slot] = None
        update = MonitorUpdate(changes=changes, snapshot=self.tracker.snapshot_due(t))
        update.observations = dict(obs)
        for cand in self.latch.new(self.violations(t)):
            jpeg = crop_jpeg(frame, cand.box) if frame is not None and cand.box else None
            update.violations.append(Evidence(cand, jpeg))
        return update

    def statuses(self) -> list[SlotStatus]:
        out = []
        for s in self.slots:
            m = self.tracker.machines[s.id]
            if m.occupied is None or m.since is None:
                continue
            out.append(
                SlotStatus(
                    s.id, s.zone, m.occupied, m.since, self.plates.get(s.id), self.boxes[s.id]
                )
            )
        return out

    def violations(self, now: float) -> list[ViolationCandidate]:
        statuses = self.statuses()
        return [
            *timed_zone_violations(statuses, self.zones, now),
            *reserved_slot_violations(statuses, self.reserved_for, now),
            *visitor_overstay_violations(
                self.ledger.overstays(now, self.overstay_grace_s), now, self.boxes
            ),
        ]


def slot_state(change: SlotChange, plate: str | None = None) -> SlotState:
    """The ``slot_state`` event payload for a change (times are epoch seconds)."""
    return SlotState(
        slot=change.slot,
        occupied=change.occupied,
        since=datetime.fromtimestamp(change.since, UTC),
        source=change.source,
        plate=plate,
        confidence=min(1.0, max(0.0, change.confidence)),
    )
