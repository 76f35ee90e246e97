"""The vehicle gate: loop sensor -> camera frames -> plate reader -> voter -> decision -> barrier,
with every step published (plate_read, gate_decision, gate_state) through the outbox.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from pydantic import ValidationError

from edge.camera_health import CameraFault, CameraHealth
from edge.context import EdgeContext
from edge.pipeline import GateDevices, GatePipeline, PipelineDeps
from edge.vehicle_gate.decisions import PlateEvidence, VehicleDecision, decide_vehicle
from models.messages import (
    Alarm,
    AlarmType,
    Credential,
    DecisionReason,
    GateDecision,
    GatePosition,
    Kind,
    PlateRead,
    Severity,
)
from models.plate import PlateColor, normalize_plate
from models.site import GateConfig, GateType

log = logging.getLogger(__name__)


@dataclass
class _Visit:
    """One vehicle on the loop, from arrival to departure."""

    started: float
    last_decision: float | None = None
    decided: set[str] = field(default_factory=set)
    opened: bool = False
    opened_for: str | None = None
    tailgate_reported: bool = False
    low_confidence_reported: bool = False
    decisions: int = 0


class VehicleGatePipeline(GatePipeline):
    gate_type = GateType.VEHICLE
    max_decisions_per_visit = 3  # a refused car may be re-read (misread), but not forever
    # How often an idle gate asks the loop whether a car arrived: part of every car's wait.
    idle_poll_s = 0.02

    def __init__(
        self, gate: GateConfig, devices: GateDevices, ctx: EdgeContext, deps: PipelineDeps
    ) -> None:
        super().__init__(gate, devices, ctx, deps)
        self.health = CameraHealth(after_s=deps.camera_fault_after_s)
        if deps.reader is None or deps.voter_factory is None:
            raise ValueError("a vehicle gate needs a plate reader and a voter factory")
        self.reader = deps.reader
        self.voter = deps.voter_factory()
        self.frame_period = 1.0 / gate.camera.fps
        self.visit: _Visit | None = None
        self.has_vehicle_detector = getattr(devices.sensor, "is_vehicle_detector", True)
        self.frames_read = 0
        self.camera_misses = 0

    async def run(self) -> None:
        last_check = time.monotonic()
        while True:
            present = await asyncio.to_thread(self.devices.sensor.present)
            if not present:
                if self.visit is not None:
                    await self._end_visit()
                if time.monotonic() - last_check >= self.deps.camera_check_s:
                    # Idle: one frame now and then, so a dead or covered camera is noticed
                    # before the next car finds out.
                    last_check = time.monotonic()
                    await self._check_camera(await asyncio.to_thread(self.devices.camera.read))
                await asyncio.sleep(self.idle_poll_s)
                continue
            if self.visit is not None and self._visit_stale(self.visit):
                await self._end_visit()
            if self.visit is None:
                self.visit = _Visit(time.monotonic())
                self.voter.reset()
            started = time.monotonic()
            await self.step()
            # Recognise at the camera's frame rate, never faster.
            await asyncio.sleep(max(0.0, self.frame_period - (time.monotonic() - started)))

    async def step(self) -> VehicleDecision | None:
        """Read one frame and act on the vote, if one is ready. Returns a decision it made."""
        visit = self.visit
        if visit is None:
            return None
        if visit.opened and (visit.tailgate_reported or not self.has_vehicle_detector):
            return None  # tailgating needs a loop: without one the next car is a new visit
        if not visit.opened and visit.decisions >= self.max_decisions_per_visit:
            return None
        # After the barrier opened, frames are still read: a second plate on the loop before
        # it cleared is a vehicle following through without a decision (tailgating).
        frame, detections = await asyncio.to_thread(self._read_frame)
        await self._check_camera(frame)
        if frame is None:
            self.camera_misses += 1
            return None
        self.frames_read += 1
        self.voter.add(detections)
        # One very sure read may open the barrier; accusing a follower of tailgating waits
        # for the vote over several frames.
        vote = self.voter.result(single=not visit.opened)
        if vote is None:
            return None
        self.voter.reset()  # next decision, if any, on fresh frames
        if visit.opened:
            await self._check_tailgating(visit, vote, frame)
            return None
        return await self._on_vote(visit, vote, frame)

    async def _check_tailgating(self, visit: _Visit, vote: Any, frame: np.ndarray) -> None:
        plate = normalize_plate(vote.text)
        if float(vote.confidence) < self.gate.min_plate_confidence:
            return  # not sure enough to accuse anyone
        if any(_same_vehicle(plate, known) for known in visit.decided):
            return  # the vehicle let in (or a one-character misread of it)
        read = self._plate_read(plate, vote, frame)
        if read is None:
            return
        visit.tailgate_reported = True
        detail = f"{plate} followed {visit.opened_for} through the open barrier"
        log.warning("gate %s: tailgating: %s", self.gate.id, detail)
        await self.ctx.emit(Kind.PLATE_READ, read)
        await self.ctx.emit(
            Kind.ALARM,
            Alarm(type=AlarmType.TAILGATING, gate=self.gate.id, detail=detail),
        )

    def _plate_read(self, plate: str, vote: Any, frame: np.ndarray) -> PlateRead | None:
        try:
            return PlateRead(
                gate=self.gate.id,
                plate=plate,
                color=_color(vote.color),
                confidence=min(1.0, max(0.0, float(vote.confidence))),
                frames=max(1, int(vote.frames)),
                box=_box(vote.box),
                crop_jpeg_b64=plate_crop_b64(frame, _box(vote.box)),
            )
        except ValidationError as exc:  # the voter produced something that is not a plate
            log.info("gate %s: discarded vote %r: %s", self.gate.id, vote.text, exc.errors()[0])
            return None

    async def _check_camera(self, frame: np.ndarray | None) -> None:
        issue = self.health.observe(frame, time.monotonic())
        if issue is None:
            return
        log.warning("gate %s: %s", self.gate.id, issue.detail)
        dead = issue.fault is CameraFault.NO_FRAMES
        await self.ctx.emit(
            Kind.ALARM,
            Alarm(
                type=AlarmType.GATE_FAULT if dead else AlarmType.CAMERA_TAMPER,
                gate=self.gate.id,
                severity=Severity.CRITICAL if dead else Severity.WARNING,
                detail=issue.detail,
            ),
        )

    def _read_frame(self) -> tuple[np.ndarray | None, Sequence[Any]]:
        frame = self.devices.camera.read()
        if frame is None:
            return None, ()
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = self.gate.plate_region_px(width, height)
        with self.deps.reader_lock:  # one recogniser shared by the gates of this edge
            detections = self.reader.read(frame[y0:y1, x0:x1])
        if x0 or y0:
            detections = [_shifted(d, x0, y0) for d in detections]
        return frame, detections

    async def _on_vote(self, visit: _Visit, vote: Any, frame: np.ndarray) -> VehicleDecision | None:
        plate = normalize_plate(vote.text)
        decision = decide_vehicle(
            PlateEvidence(plate, float(vote.confidence)),
            self.ctx.lists(),
            self.ctx.now(),
            min_confidence=self.gate.min_plate_confidence,
            capacity=self.ctx.capacity,
            direction=self.gate.direction,
        )
        low = decision.reason is DecisionReason.LOW_CONFIDENCE
        if low and visit.low_confidence_reported:
            return None  # keep reading; one low-confidence report per visit is enough
        if not low and plate in visit.decided:
            return None  # same plate, same answer: do not repeat it
        read = self._plate_read(plate, vote, frame)
        if read is None:
            return None
        visit.last_decision = time.monotonic()
        if low:
            visit.low_confidence_reported = True
        else:
            visit.decided.add(plate)
            visit.decisions += 1
        if decision.opens:
            # The barrier first: the events are durable anyway, the driver is waiting.
            visit.opened = await self.devices.control.open_for(
                self.gate.open_seconds, f"{decision.reason}: {plate}"
            )
            visit.opened_for = plate
        read_msg = await self.ctx.emit(Kind.PLATE_READ, read)
        await self.ctx.emit(
            Kind.GATE_DECISION,
            GateDecision(
                gate=self.gate.id,
                credential=Credential.PLATE,
                subject=plate,
                decision=decision.decision,
                reason=decision.reason,
                list_version=decision.list_version,
                source_event=read_msg.id,
            ),
        )
        log.info(
            "gate %s: %s %s (%s, conf %.2f)",
            self.gate.id,
            decision.decision,
            plate,
            decision.reason,
            read.confidence,
        )
        return decision

    def _visit_stale(self, visit: _Visit) -> bool:
        """With a loop, a visit lasts exactly while the loop is occupied (one decision per car,
        however long a refused driver waits). Without one it has no visible end: it ends when
        the barrier is down again after an open, or some seconds after a refusal (re-read)."""
        if self.has_vehicle_detector or visit.last_decision is None:
            return False
        if visit.opened:
            return self.devices.control.position is not GatePosition.OPEN
        return time.monotonic() - visit.last_decision > self.gate.open_seconds + 2.0

    async def _end_visit(self) -> None:
        visit, self.visit = self.visit, None
        self.voter.reset()
        if visit is not None and visit.opened and self.has_vehicle_detector:
            # The vehicle let in has cleared the loop: lower the barrier behind it now rather
            # than after open_seconds, which is only the limit when nobody drives through.
            await self.devices.control.close(f"vehicle passed: {visit.opened_for}")


def _shifted(detection: Any, dx: int, dy: int) -> Any:
    """A detection made in the plate region, its box moved into frame coordinates."""
    box = getattr(detection, "box", None)
    if box is None or not dataclasses.is_dataclass(detection):
        return detection
    x, y, w, h = box
    return dataclasses.replace(detection, box=(x + dx, y + dy, w, h))  # type: ignore[type-var]


def _same_vehicle(a: str, b: str) -> bool:
    """Plates that differ in at most one character are taken as the same vehicle misread."""
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) <= 1


def _color(value: Any) -> PlateColor:
    try:
        return PlateColor(str(getattr(value, "value", value)))
    except ValueError:
        return PlateColor.UNKNOWN


def _box(box: Any) -> tuple[int, int, int, int] | None:
    if box is None:
        return None
    x, y, w, h = (int(v) for v in box)
    return (x, y, w, h)


def plate_crop_b64(
    frame: np.ndarray, box: tuple[int, int, int, int] | None, *, max_width: int = 320
) -> str | None:
    """A small JPEG of the plate (with a margin) as base64: evidence, not the whole scene."""
    if box is None:
        return None
    x, y, w, h = box
    mx, my = w // 6, h // 3
    height, width = frame.shape[:2]
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(width, x + w + mx), min(height, y + h + my)
    if x1 <= x0 or y1 <= y0:
        return None
    crop = frame[y0:y1, x0:x1]
    if crop.shape[1] > max_width:
        scale = max_width / crop.shape[1]
        crop = cv2.resize(crop, (max_width, max(1, round(crop.shape[0] * scale))))
    ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        return None
    encoded = base64.b64encode(jpeg.tobytes()).decode()
    return encoded if len(encoded) <= 60 * 1024 else None
