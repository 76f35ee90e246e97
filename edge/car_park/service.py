"""Edge services for the car park, run by ``EdgeAgent(..., services=[...])``.

On the ``car_park: true`` edge, ``carpark_service``: camera frames (and/or ground-sensor
readings) -> ``SlotOccupancyDetector`` / ``SensorBank`` -> ``SlotTracker`` (debounce) ->

- a ``slot_state`` event (QoS 1, through the outbox) for each real change only, with a small
  JPEG crop of the slot when it fills in a restricted zone (fire lane, no parking, reserved),
  which the hub keeps as the violation's evidence;
- the retained ``state/carpark_snapshot`` (free/occupied/unknown per zone, and the bays a
  visitor may use), on every change and every ``snapshot_every_s``.

The hub judges violations (hub/car_park/rules.py) and relays the snapshot to every edge on the
retained ``sync/carpark`` topic (the edge ACL lets edges read sync topics, not each other).
On the vehicle-gate edges, ``capacity_service`` keeps the newest relayed snapshot as
``ctx.capacity``: a visitor car is refused (``capacity_full``) when no bay a visitor may use
is free, the car park holds ``capacity`` cars, or the visitors inside (counted by the hub
from visitor-pass entries and exits) reach the ``visitor_quota``. Residents are never
refused for room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from edge.car_park.evidence import crop_b64
from edge.car_park.sensors import SensorBank
from edge.car_park.slots import CarParkSnapshot as TrackerSnapshot
from edge.car_park.slots import DebounceConfig, SlotChange, SlotTracker, Source
from edge.context import EdgeContext
from edge.interfaces import Camera
from edge.vehicle_gate.decisions import Entrant
from models.messages import (
    AnyMessage,
    CarParkSnapshot,
    Kind,
    SlotState,
    ZoneCounts,
)
from models.site import CarPark, SiteConfig, ZoneKind
from recognition.parking.detector import SlotOccupancyDetector
from recognition.parking.geometry import bounding_box

log = logging.getLogger(__name__)

RESTRICTED_KINDS = (ZoneKind.FIRE_LANE, ZoneKind.NO_PARKING, ZoneKind.UNMARKED, ZoneKind.RESERVED)
VISITOR_KINDS = (ZoneKind.GENERAL, ZoneKind.VISITOR)
ReadingsSource = Callable[[float], Iterable[Any]]  # epoch seconds -> sensor readings


def snapshot_payload(snap: TrackerSnapshot, car_park: CarPark) -> CarParkSnapshot:
    visitor_zones = {z.id for z in car_park.zones if z.kind in VISITOR_KINDS}
    return CarParkSnapshot(
        zones=[
            ZoneCounts(zone=z, free=c.free, occupied=c.occupied, unknown=c.unknown)
            for z, c in sorted(snap.zones.items())
        ],
        free=snap.free,
        occupied=snap.occupied,
        unknown=snap.unknown,
        visitor_free=sum(c.free for z, c in snap.zones.items() if z in visitor_zones),
    )


class CarParkService:
    """One car park: observe, debounce, publish changes and snapshots."""

    def __init__(
        self,
        ctx: EdgeContext,
        car_park: CarPark,
        *,
        camera: Camera | None = None,
        sensors: ReadingsSource | None = None,
        frame_interval_s: float | None = None,
        debounce: DebounceConfig = DebounceConfig(),
        snapshot_every_s: float = 60.0,
        calibration_frame: np.ndarray | None = None,
    ) -> None:
        if camera is None and sensors is None:
            raise ValueError("the car park needs a camera, sensors or both")
        self.ctx = ctx
        self.car_park = car_park
        self.camera = camera
        self.sensors = sensors
        fps = car_park.camera.fps if car_park.camera else 1.0
        self.frame_interval_s = frame_interval_s or 1.0 / fps
        size = (car_park.camera.width, car_park.camera.height) if car_park.camera else (1280, 720)
        source: Source = "fused" if camera and sensors else "camera" if camera else "sensor"
        self.source = source
        self.tracker = SlotTracker(
            {s.id: s.zone for s in car_park.slots},
            debounce,
            source=source,
            snapshot_every_s=snapshot_every_s,
        )
        self.detector = SlotOccupancyDetector(car_park.slots) if camera else None
        if self.detector is not None and calibration_frame is not None:
            self.detector.calibrate(calibration_frame)
        self.bank = SensorBank([s.id for s in car_park.slots]) if sensors else None
        kinds = {z.id: z.kind for z in car_park.zones}
        self.restricted = {s.id for s in car_park.slots if kinds[s.zone] in RESTRICTED_KINDS}
        self.boxes = {s.id: bounding_box(s.polygon, size) for s in car_park.slots}
        self.published_changes = 0
        self.published_snapshots = 0

    # ---- pure-ish step (no publishing): observations -> changes

    def observe(
        self, frame: np.ndarray | None, readings: Iterable[Any], t: float
    ) -> list[SlotChange]:
        obs: dict[str, Any] = {}
        if self.detector is not None and frame is not None:
            obs.update(self.detector.update(frame, t))
        if self.bank is not None:
            sensed = self.bank.update(readings)
            for sid, s in sensed.items():
                cam = obs.get(sid)
                # fused: a car is there if either sensor is sure; the mean score otherwise
                obs[sid] = s if cam is None else _Fused(cam, s)
        return self.tracker.update(obs, t)

    def slot_state(self, change: SlotChange, frame: np.ndarray | None) -> SlotState:
        crop = None
        if change.occupied and change.slot in self.restricted and frame is not None:
            with contextlib.suppress(ValueError):
                crop = crop_b64(frame, self.boxes[change.slot], max_side=240, quality=70)
        return SlotState(
            slot=change.slot,
            occupied=change.occupied,
            since=datetime.fromtimestamp(change.since, UTC),
            source=change.source,
            confidence=max(0.0, min(1.0, change.confidence)),
            crop_jpeg_b64=crop,
        )

    # ---- the loop

    async def step(self) -> list[SlotChange]:
        """Read one frame and/or sensor sweep, publish what changed; returns the changes."""
        t = self.ctx.now().timestamp()
        frame = await asyncio.to_thread(self.camera.read) if self.camera else None
        readings = list(self.sensors(t)) if self.sensors else []
        changes = await asyncio.to_thread(self.observe, frame, readings, t)
        for change in changes:
            await self.ctx.emit(Kind.SLOT_STATE, self.slot_state(change, frame))
            self.published_changes += 1
        snap = self.tracker.snapshot(t) if changes else self.tracker.snapshot_due(t)
        if snap is not None:
            await self.ctx.set_state(Kind.CARPARK_SNAPSHOT, snapshot_payload(snap, self.car_park))
            self.published_snapshots += 1
        return changes

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            await self.step()
            await asyncio.sleep(max(0.0, self.frame_interval_s - (time.monotonic() - started)))


class _Fused:
    __slots__ = ("occupied", "score")

    def __init__(self, camera: Any, sensor: Any) -> None:
        self.occupied = bool(camera.occupied or sensor.occupied)
        self.score = (float(camera.score) + float(sensor.score)) / 2


def carpark_service(site: SiteConfig, **options: Any) -> Callable[[EdgeContext], Callable[[], Any]]:
    """Service factory for ``EdgeAgent(services=[...])`` on the car-park edge; ``options``
    go to ``CarParkService`` (camera, sensors, debounce, ...). The built service is kept
    on the factory as ``.service`` for inspection."""
    if site.car_park is None:
        raise ValueError(f"site {site.site.id} has no car_park")
    car_park = site.car_park

    def factory(ctx: EdgeContext) -> Callable[[], Any]:
        service = CarParkService(ctx, car_park, **options)
        factory.service = service  # type: ignore[attr-defined]
        return service.run

    return factory


# --------------------------------------------------------------------- vehicle gates


class SnapshotCapacity:
    """``CapacityCheck`` from the newest car-park snapshot the hub relayed.

    No snapshot, or one older than ``max_age_s`` (car-park edge or hub down): the gates
    must keep working, so visitors are not refused for room then (logged)."""

    def __init__(
        self,
        capacity: int | None = None,
        visitor_quota: int | None = None,
        *,
        max_age_s: float = 600.0,
    ) -> None:
        self.capacity = capacity
        self.visitor_quota = visitor_quota
        self.max_age_s = max_age_s
        self.snapshot: CarParkSnapshot | None = None
        self.at: datetime | None = None

    def update(self, snapshot: CarParkSnapshot, at: datetime) -> None:
        if self.at is None or at >= self.at:
            self.snapshot, self.at = snapshot, at

    def has_room(self, entrant: Entrant, plate: str, now: datetime) -> bool:
        if entrant is not Entrant.VISITOR:
            return True
        snap, at = self.snapshot, self.at
        if snap is None or at is None or now - at > timedelta(seconds=self.max_age_s):
            log.info("no recent car-park snapshot: admitting visitor %s without a check", plate)
            return True
        if self.capacity is not None and snap.occupied >= self.capacity:
            return False
        inside = snap.visitors_inside
        if self.visitor_quota is not None and inside is not None and inside >= self.visitor_quota:
            return False
        return snap.visitor_free > 0 or snap.unknown > 0

    async def on_sync(self, message: AnyMessage) -> None:
        if message.kind == Kind.CARPARK_SNAPSHOT:
            self.update(message.payload, message.ts)


def capacity_service(
    site: SiteConfig, **options: Any
) -> Callable[[EdgeContext], Callable[[], Any]]:
    """Service factory for the vehicle-gate edges: sets ``ctx.capacity`` from the relayed
    snapshots (registered before the bus starts, so the retained one is seen)."""
    limits = _limits(site)

    def factory(ctx: EdgeContext) -> Callable[[], Any]:
        check = SnapshotCapacity(*limits, **options)
        ctx.capacity = check
        ctx.bus.on_sync(check.on_sync)
        factory.check = check  # type: ignore[attr-defined]
        return _idle

    return factory


async def _idle() -> None:
    await asyncio.Event().wait()  # the work happens in the sync handler


def attach_capacity(agent: Any, **options: Any) -> SnapshotCapacity:
    """Give an already started ``EdgeAgent`` the snapshot capacity check (the demo starts
    its gate edges first). It sees the next relayed snapshot, not an earlier retained one."""
    assert agent.ctx is not None and agent.bus is not None, "start the agent first"
    check = SnapshotCapacity(*_limits(agent.site), **options)
    agent.ctx.capacity = check
    agent.bus.on_sync(check.on_sync)
    return check


def _limits(site: SiteConfig) -> tuple[int | None, int | None]:
    car_park = site.car_park
    return (car_park.capacity, car_park.visitor_quota) if car_park else (None, None)


def zone_counts(snapshot: CarParkSnapshot) -> Mapping[str, ZoneCounts]:
    return {z.zone: z for z in snapshot.zones}
