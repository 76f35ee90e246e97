"""Pedestrian gate: presence -> camera frames -> face (detect, liveness, match) or a QR pass,
PIN or card -> decision -> door relay, with face_match, gate_decision and alarms published.

Faces are matched against the site's face bundle, synced from the hub over MQTT and kept
encrypted on the edge's disk (edge/pedestrian_gate/sync.py), so the gate decides with the hub down.
Events carry the person id, distance and liveness verdict: never a template.
The face key comes from $ANJU_FACE_KEY or $ANJU_FACE_KEY_FILE (models/face_bundle.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edge.car_park.evidence import crop_b64
from edge.context import EdgeContext
from edge.interfaces import CredentialReader, PinAttempt
from edge.pedestrian_gate.keypad import KeypadLock
from edge.pedestrian_gate.reader import FaceReading, GateFaceReader, face_match_payload
from edge.pedestrian_gate.rules import (
    UNKNOWN_SUBJECT,
    Attempt,
    DoorMonitor,
    FaceAttempt,
    PedestrianDecision,
    PedestrianSettings,
    UnknownAttemptTracker,
    decide_pedestrian,
)
from edge.pedestrian_gate.sync import FaceState, FaceSync
from edge.pipeline import GateDevices, GatePipeline, PipelineDeps
from models.face_bundle import FaceCipher, FaceKeyError, load_face_key
from models.messages import (
    Alarm,
    AlarmType,
    AnyMessage,
    Credential,
    Decision,
    DecisionReason,
    GateDecision,
    GatePosition,
    Kind,
    Severity,
)
from models.site import GateConfig, GateType
from recognition.face.detector import FaceStack
from recognition.face.settings import DetectorSettings, LivenessSettings

log = logging.getLogger(__name__)

# One dlib stack per process: its models are shared and not meant for concurrent calls.
_STACK_LOCK = threading.Lock()
FACE_EVIDENCE_PX = 160  # enough to recognise the person on the console, small on the wire
DOOR_POLL_S = 0.1  # a forced door shows within this; a reed switch is a cheap file read


class PassageFaceReader(GateFaceReader):
    """``GateFaceReader`` plus ``finish``: a decision for a person who left the camera's
    view before the reader reached one (too few frames with a face to reach ``max_frames``)."""

    def finish(self) -> FaceReading | None:
        if self._reported or not self._encodings or self._box is None:
            return None
        self._reported = True
        verdict = self.liveness.verdict()
        match = self._match()
        attempt = FaceAttempt(match.person, match.role, match.distance, verdict.live)
        return FaceReading(attempt, self._box, self._frames, verdict, self._crop)


def credential_reader_of(devices: GateDevices) -> CredentialReader | None:
    """The reader of the gate unit; drivers expose it on the presence sensor's unit."""
    reader = getattr(devices.sensor, "credential_reader", None)
    return reader if isinstance(reader, CredentialReader) else None


class PedestrianGatePipeline(GatePipeline):
    gate_type = GateType.PEDESTRIAN
    idle_poll_s = 0.1

    def __init__(
        self, gate: GateConfig, devices: GateDevices, ctx: EdgeContext, deps: PipelineDeps
    ) -> None:
        super().__init__(gate, devices, ctx, deps)
        self.settings = PedestrianSettings()
        self.liveness = LivenessSettings()
        self.frame_period = 1.0 / gate.camera.fps
        self.credentials = credential_reader_of(devices)
        self.tracker = UnknownAttemptTracker.from_settings(self.settings)
        self.keypad = KeypadLock()  # lock-out with back-off after wrong unit + PIN entries
        self.stack = FaceStack(DetectorSettings(min_face_px=80))
        self.sync: FaceSync | None = None
        self.key_error: str | None = None
        self.decisions = 0
        self._unkeyed_bundle: AnyMessage | None = None
        self.reader: PassageFaceReader | None = None
        self.door: DoorMonitor | None = None
        if devices.door is not None and gate.door is not None:
            self.door = DoorMonitor(gate.door.held_open_s, self.settings.door_grace_s)
        # Registered before the bus connects, so the retained bundle arrives here.
        ctx.bus.on_sync(self._on_sync)
        self._setup_faces()

    def _setup_faces(self) -> bool:
        """Load the face key and the cached bundle; False (and logged once) without a key."""
        try:
            key = load_face_key()
        except FaceKeyError as exc:
            if self.key_error is None:
                log.error("gate %s: face access disabled until a key is set: %s", self.gate.id, exc)
            self.key_error = str(exc)
            return False
        data_dir = self.deps.data_dir or Path("data/edge") / self.ctx.device
        self.sync = FaceSync(self.ctx.site, Path(data_dir) / "faces", FaceCipher(key), key)
        self.sync.load_cached()
        self.sync.listeners.append(self._on_new_faces)
        self.reader = self._new_reader()
        self.key_error = None
        return True

    async def _on_sync(self, message: AnyMessage) -> None:
        if self.sync is not None:
            await self.sync.on_sync(message)
        elif message.kind == Kind.FACE_BUNDLE:
            self._unkeyed_bundle = message  # kept until the key is configured

    async def _wait_for_key(self) -> None:
        """No key: nothing can be matched or verified, the door stays shut (remote commands
        still work). Look for the key again now and then."""
        while not self._setup_faces():
            await asyncio.sleep(2.0)
        if self._unkeyed_bundle is not None:
            assert self.sync is not None
            await self.sync.on_sync(self._unkeyed_bundle)
            self._unkeyed_bundle = None

    def _new_reader(self) -> PassageFaceReader:
        assert self.sync is not None
        return PassageFaceReader(self.stack, self.sync.state.matcher, self.liveness)

    def _on_new_faces(self, state: FaceState) -> None:
        if self.reader is not None:
            self.reader.set_matcher(state.matcher)
        log.info("gate %s: faces version %s", self.gate.id, state.version)

    @property
    def state(self) -> FaceState | None:
        return self.sync.state if self.sync else None

    async def run(self) -> None:
        door_task = asyncio.create_task(self._watch_door()) if self.door is not None else None
        try:
            await self._run_passages()
        finally:
            if door_task is not None:
                door_task.cancel()

    async def _watch_door(self) -> None:
        """Door contact -> door_forced (opened while locked) / door_held (open too long).
        Any unlock counts, a face/QR/PIN decision or a remote command from the hub alike."""
        assert self.door is not None and self.devices.door is not None
        contact, monitor = self.devices.door, self.door
        while True:
            now = time.monotonic()
            monitor.lock(self.devices.control.position is GatePosition.OPEN, now)
            is_open = await asyncio.to_thread(contact.is_open)
            for alarm in monitor.door(is_open, now) + monitor.tick(now):
                detail = (
                    "door opened while locked"
                    if alarm is AlarmType.DOOR_FORCED
                    else f"door open longer than {monitor.held_s:g} s"
                )
                await self._alarm(alarm, detail)
            await asyncio.sleep(DOOR_POLL_S)

    async def _run_passages(self) -> None:
        if self.sync is None:
            await self._wait_for_key()
        decided = False  # one face decision per passage (presence period)
        in_passage = False
        while True:
            await self._poll_credentials()
            present = await asyncio.to_thread(self.devices.sensor.present)
            if not present:
                if in_passage:
                    if not decided and self.reader is not None:
                        reading = await asyncio.to_thread(self._finish)
                        if reading is not None:
                            await self.on_face(reading)
                    self.reader = self._new_reader()
                in_passage = decided = False
                await asyncio.sleep(self.idle_poll_s)
                continue
            in_passage = True
            started = time.monotonic()
            frame = await asyncio.to_thread(self.devices.camera.read)
            if frame is not None and not decided:
                reading = await asyncio.to_thread(self._feed, frame)
                if reading is not None:
                    decided = True
                    await self.on_face(reading)
            await asyncio.sleep(max(0.0, self.frame_period - (time.monotonic() - started)))

    def _feed(self, bgr: np.ndarray) -> FaceReading | None:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        assert self.reader is not None
        with _STACK_LOCK:
            return self.reader.feed(rgb)

    def _finish(self) -> FaceReading | None:
        assert self.reader is not None
        with _STACK_LOCK:
            return self.reader.finish()

    async def _poll_credentials(self) -> None:
        if self.credentials is None:
            return
        while (attempt := await asyncio.to_thread(self.credentials.poll)) is not None:
            await self.decide(attempt)

    async def on_face(self, reading: FaceReading) -> PedestrianDecision:
        match = await self.ctx.emit(Kind.FACE_MATCH, face_match_payload(reading, self.gate.id))
        return await self.decide(reading.attempt, source_event=match.id, face=reading.crop)

    async def decide(
        self, attempt: Attempt, source_event: str | None = None, face: np.ndarray | None = None
    ) -> PedestrianDecision:
        """``face``: the RGB face crop of a face attempt; sent only with an alarm."""
        assert self.sync is not None
        state = self.sync.state
        pin = isinstance(attempt, PinAttempt)
        wait_s = self.keypad.wait_s(time.monotonic()) if pin else 0.0
        if wait_s > 0:  # locked: the PIN is not even looked up
            decision = PedestrianDecision(
                Decision.REFUSE, DecisionReason.KEYPAD_LOCKED, Credential.PIN, UNKNOWN_SUBJECT
            )
        else:
            decision = decide_pedestrian(
                attempt, state.directory, now=self.ctx.now(), settings=self.settings
            )
        if decision.opens:
            await self.devices.control.open_for(
                self.gate.open_seconds,
                f"{decision.credential} {decision.reason}: {decision.subject}",
            )
        decided = await self.ctx.emit(
            Kind.GATE_DECISION,
            GateDecision(
                gate=self.gate.id,
                credential=decision.credential,
                subject=decision.subject,
                decision=decision.decision,
                reason=decision.reason,
                list_version=state.version,
                source_event=source_event,
            ),
        )
        log.info(
            "gate %s: %s %s by %s (%s)",
            self.gate.id,
            decision.decision,
            decision.subject,
            decision.credential,
            decision.reason,
        )
        if decision.alarm is not None:
            await self._alarm(
                decision.alarm,
                f"{decision.subject} tried {decision.credential}",
                face,
                subject=decision.subject,
                source_event=decided.id,
            )
        if decision.suspicious and self.tracker.record(time.monotonic()):
            await self._alarm(
                AlarmType.UNKNOWN_FACE_REPEATED,
                f"{self.settings.unknown_attempts} refused attempts within "
                f"{self.settings.unknown_window_s:g} s (last: {decision.credential} "
                f"{decision.reason})",
                face,  # the last of the refused faces
            )
        if pin and wait_s == 0:
            if decision.opens:
                self.keypad.succeeded()
            elif (lockout := self.keypad.failed(time.monotonic())) is not None:
                await self._alarm(
                    AlarmType.KEYPAD_LOCKED,
                    f"keypad locked for {lockout.seconds:g} s after {lockout.failures}"
                    " wrong unit + PIN entries",
                )
        self.decisions += 1  # counted once the decision and its alarms are out
        return decision

    async def _alarm(
        self,
        kind: AlarmType,
        detail: str,
        face: np.ndarray | None = None,
        *,
        subject: str | None = None,
        source_event: str | None = None,
    ) -> None:
        critical = kind in (AlarmType.BLACKLIST, AlarmType.DOOR_FORCED)
        severity = Severity.CRITICAL if critical else Severity.WARNING
        crop = await asyncio.to_thread(face_evidence, face) if face is not None else None
        alarm = Alarm(
            type=kind,
            gate=self.gate.id,
            severity=severity,
            detail=detail,
            subject=subject,
            source_event=source_event,
            crop_jpeg_b64=crop,
        )
        await self.ctx.emit(Kind.ALARM, alarm)


def face_evidence(face_rgb: np.ndarray) -> str | None:
    """The face crop as a small base64 JPEG (at most FACE_EVIDENCE_PX a side, ~5-10 KB)."""
    if face_rgb.size == 0:
        return None
    bgr = cv2.cvtColor(face_rgb, cv2.COLOR_RGB2BGR)
    height, width = bgr.shape[:2]
    return crop_b64(bgr, (0, 0, width, height), max_side=FACE_EVIDENCE_PX)
