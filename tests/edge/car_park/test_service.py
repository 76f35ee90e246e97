"""edge/car_park/service.py on rendered car-park frames (no broker: the bus records what would
be published), the snapshot capacity check, and the demo's site override."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np

from anju_cli.demo.car_park import SimCarParkCamera, demo_parking_site
from edge.car_park.service import CarParkService, SnapshotCapacity, snapshot_payload
from edge.car_park.slots import DebounceConfig, SlotTracker
from edge.context import EdgeContext
from edge.vehicle_gate.decisions import Entrant, LocalLists, PlateEvidence, decide_vehicle
from models.messages import CarParkSnapshot, DecisionReason, EnvelopeBase, Kind, ZoneCounts
from models.site import load_site_config
from simulators.carpark import random_car

SITE = load_site_config()
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


class RecordingBus:
    def __init__(self) -> None:
        self.sent: list[tuple[str, EnvelopeBase, bool]] = []

    @property
    def connected(self) -> bool:
        return True

    async def publish(
        self, topic: str, message: EnvelopeBase, *, retain: bool = False, droppable: bool = False
    ) -> int:
        self.sent.append((topic, message, retain))
        return len(self.sent)

    def on_command(self, handler) -> None:
        pass

    def on_sync(self, handler) -> None:
        pass

    async def pending(self) -> int:
        return 0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def kinds(sent: list[tuple[str, EnvelopeBase, bool]], kind: Kind) -> list[EnvelopeBase]:
    return [m for _, m, _ in sent if m.kind == kind]  # type: ignore[attr-defined]


async def test_changes_only_with_crops_for_restricted_zones_and_retained_snapshots() -> None:
    assert SITE.car_park is not None
    bus, clock = RecordingBus(), Clock()
    ctx = EdgeContext("lakeside", "edge-carpark", bus, lambda: LocalLists(version=0), now=clock)
    camera = SimCarParkCamera(SITE.car_park, seed=5, walkers=0)
    service = CarParkService(
        ctx,
        SITE.car_park,
        camera=camera,
        debounce=DebounceConfig(on_after_s=3.0, off_after_s=3.0),
        snapshot_every_s=600.0,
        calibration_frame=camera.empty_frame(),
    )

    async def run(steps: int) -> None:
        for _ in range(steps):
            await service.step()
            clock.now += timedelta(seconds=1)

    await run(5)  # the first states: every slot free, published once
    first = kinds(bus.sent, Kind.SLOT_STATE)
    assert len(first) == len(SITE.car_park.slots)
    assert not any(m.payload.occupied for m in first)  # type: ignore[attr-defined]
    bus.sent.clear()
    await run(3)
    assert kinds(bus.sent, Kind.SLOT_STATE) == []  # nothing changed: nothing sent

    camera.park("F01", random_car(np.random.default_rng(1)))
    camera.park("A01", random_car(np.random.default_rng(2)))
    await run(6)
    changes = kinds(bus.sent, Kind.SLOT_STATE)
    assert sorted(m.payload.slot for m in changes) == ["A01", "F01"]  # type: ignore[attr-defined]
    by_slot = {m.payload.slot: m.payload for m in changes}  # type: ignore[attr-defined]
    assert by_slot["F01"].occupied and by_slot["F01"].source == "camera"
    assert T0 + timedelta(seconds=7) <= by_slot["F01"].since <= T0 + timedelta(seconds=9)
    assert by_slot["A01"].crop_jpeg_b64 is None  # an ordinary bay needs no evidence
    jpeg = base64.b64decode(by_slot["F01"].crop_jpeg_b64)
    crop = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert crop is not None and max(crop.shape[:2]) <= 240
    (topic, snap, retained) = next(s for s in bus.sent if s[1].kind == Kind.CARPARK_SNAPSHOT)  # type: ignore[attr-defined]
    assert retained and topic == "anju/lakeside/edge-carpark/state/carpark_snapshot"
    zones = {z.zone: z for z in snap.payload.zones}  # type: ignore[attr-defined]
    assert zones["fire-lane"].occupied == 1 and zones["general"].occupied == 1
    assert snap.payload.visitor_free == 17  # type: ignore[attr-defined]

    bus.sent.clear()
    camera.leave("F01")
    await run(6)
    (freed,) = kinds(bus.sent, Kind.SLOT_STATE)
    assert freed.payload.slot == "F01" and not freed.payload.occupied  # type: ignore[attr-defined]
    assert freed.payload.crop_jpeg_b64 is None  # type: ignore[attr-defined]


def snapshot(visitor_free: int, occupied: int = 5, unknown: int = 0) -> CarParkSnapshot:
    return CarParkSnapshot(
        zones=[ZoneCounts(zone="general", free=visitor_free, occupied=occupied, unknown=unknown)],
        free=visitor_free,
        occupied=occupied,
        unknown=unknown,
        visitor_free=visitor_free,
    )


def test_snapshot_capacity_refuses_visitors_only_when_known_full() -> None:
    check = SnapshotCapacity(capacity=20, max_age_s=600)
    assert check.has_room(Entrant.VISITOR, "浙HK2020", T0)  # nothing known yet: admit
    check.update(snapshot(0), T0)
    assert not check.has_room(Entrant.VISITOR, "浙HK2020", T0 + timedelta(seconds=5))
    assert check.has_room(Entrant.RESIDENT, "浙HA1234", T0 + timedelta(seconds=5))
    assert check.has_room(Entrant.VISITOR, "浙HK2020", T0 + timedelta(minutes=11))  # stale
    check.update(snapshot(0, unknown=2), T0 + timedelta(seconds=10))
    assert check.has_room(Entrant.VISITOR, "浙HK2020", T0 + timedelta(seconds=10))
    check.update(snapshot(3, occupied=20), T0 + timedelta(seconds=20))
    assert not check.has_room(Entrant.VISITOR, "浙HK2020", T0 + timedelta(seconds=20))
    check.update(snapshot(3), T0 + timedelta(seconds=30))
    check.update(snapshot(0), T0 + timedelta(seconds=25))  # older, arriving late: ignored
    assert check.has_room(Entrant.VISITOR, "浙HK2020", T0 + timedelta(seconds=30))


def test_gate_decision_says_capacity_full() -> None:
    check = SnapshotCapacity(capacity=20)
    check.update(snapshot(0), T0)
    lists = LocalLists.from_site_vehicles(SITE.vehicles)
    visitor = decide_vehicle(
        PlateEvidence("浙HK2020", 0.95), lists, T0, min_confidence=0.8, capacity=check
    )
    assert visitor.reason is DecisionReason.CAPACITY_FULL
    resident = decide_vehicle(
        PlateEvidence("浙HA1234", 0.95), lists, T0, min_confidence=0.8, capacity=check
    )
    assert resident.opens


def test_snapshot_payload_counts_visitor_bays() -> None:
    assert SITE.car_park is not None
    tracker = SlotTracker({s.id: s.zone for s in SITE.car_park.slots})
    payload = snapshot_payload(tracker.snapshot(0.0), SITE.car_park)
    assert payload.unknown == len(SITE.car_park.slots) and payload.visitor_free == 0


def test_demo_override_shortens_only_timed_zones() -> None:
    site = demo_parking_site(SITE, 0.5)
    assert site.car_park is not None and SITE.car_park is not None
    limits = {z.id: z.max_minutes for z in site.car_park.zones}
    assert limits["fire-lane"] == 0.5 and limits["no-parking"] == 0.5
    assert limits["general"] is None
    assert {z.id: z.max_minutes for z in SITE.car_park.zones}["fire-lane"] == 2


def test_visitor_quota_from_the_hub_count() -> None:
    check = SnapshotCapacity(capacity=20, visitor_quota=2)
    relayed = snapshot(5).model_copy(update={"visitors_inside": 1})
    check.update(relayed, T0)
    assert check.has_room(Entrant.VISITOR, "浙HK2020", T0)
    check.update(relayed.model_copy(update={"visitors_inside": 2}), T0)
    assert not check.has_room(Entrant.VISITOR, "浙HK2020", T0)
    assert check.has_room(Entrant.RESIDENT, "浙HA1234", T0)


async def test_demo_story_parks_in_the_fire_lane_then_leaves() -> None:
    import asyncio

    from anju_cli.demo.car_park import car_park_story, stop_task

    site = demo_parking_site(SITE, 0.005)  # 0.3 s limit
    assert site.car_park is not None
    camera = SimCarParkCamera(site.car_park, seed=2)
    story = asyncio.create_task(
        car_park_story(camera, site.car_park, tick_s=0.02, first_offence_s=0.0, beyond_limit_s=0.2)
    )
    seen: list[set[str]] = []
    for _ in range(60):
        await asyncio.sleep(0.02)
        seen.append({s for s in ("F01", "F02", "N01") if camera.occupancy[s] is not None})
    await stop_task(story)
    assert {"F01"} in seen  # the first offender stood in the fire lane
    first = seen.index({"F01"})
    assert set() in seen[first:]  # and left again
    parked = [sid for sid, car in camera.occupancy.items() if car is not None]
    assert len(parked) >= 5  # the ordinary bays are about half full


async def test_ground_sensors_alone_drive_the_same_publishing() -> None:
    from simulators.slot_sensors import SlotSensorSim

    assert SITE.car_park is not None
    bus, clock = RecordingBus(), Clock()
    ctx = EdgeContext("lakeside", "edge-carpark", bus, lambda: LocalLists(version=0), now=clock)
    sim = SlotSensorSim(SITE.car_park.slots, seed=4)
    occupancy: dict = {}
    service = CarParkService(
        ctx,
        SITE.car_park,
        sensors=lambda t: sim.read(t, occupancy),
        debounce=DebounceConfig(on_after_s=3.0, off_after_s=3.0),
    )
    assert service.source == "sensor"
    for _ in range(6):
        await service.step()
        clock.now += timedelta(seconds=1)
    bus.sent.clear()
    occupancy["N01"] = random_car(np.random.default_rng(9))
    for _ in range(8):
        await service.step()
        clock.now += timedelta(seconds=1)
    (change,) = kinds(bus.sent, Kind.SLOT_STATE)
    assert change.payload.slot == "N01" and change.payload.occupied  # type: ignore[attr-defined]
    assert change.payload.source == "sensor"  # type: ignore[attr-defined]
    assert change.payload.crop_jpeg_b64 is None  # type: ignore[attr-defined]  # no camera
