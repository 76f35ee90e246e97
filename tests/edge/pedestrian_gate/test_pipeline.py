"""The pedestrian pipeline on one edge without a broker: a recording bus, the simulated gate,
real dlib. A passage cut short still gets a decision; a blacklisted face raises an alarm;
repeated refused attempts become one ``unknown_face_repeated`` alarm."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from anju_cli.demo.pedestrians import DEMO_PEOPLE, FACES_DIR, _encodings
from edge.context import EdgeContext
from edge.gate_control import GateControl
from edge.pedestrian_gate.pipeline import PedestrianGatePipeline
from edge.pipeline import GateDevices, PipelineDeps
from edge.vehicle_gate.decisions import LocalLists
from models.face_bundle import (
    KEY_ENV,
    FaceCipher,
    bundle_payload,
    pass_key,
    seal_bundle,
    seal_directory,
)
from models.messages import EnvelopeBase, Kind, make_message
from models.passes import unit_pin
from models.site import load_site_config
from simulators.pedestrian_gate import SimulatedPedestrianGate

SITE = load_site_config()
GATE = next(g for g in SITE.gates if g.id == "east-pedestrian")
RESIDENT, BLACKLISTED = DEMO_PEOPLE


class RecordingBus:
    def __init__(self) -> None:
        self.sent: list[EnvelopeBase] = []
        self.sync_handlers: list[Any] = []

    @property
    def connected(self) -> bool:
        return True

    async def publish(self, topic: str, message: EnvelopeBase, **_: Any) -> int:
        self.sent.append(message)
        return len(self.sent)

    def on_command(self, handler: Any) -> None:
        pass

    def on_sync(self, handler: Any) -> None:
        self.sync_handlers.append(handler)

    async def pending(self) -> int:
        return 0

    def of(self, kind: Kind) -> list[Any]:
        return [m.payload for m in self.sent if m.kind == kind]  # type: ignore[attr-defined]


@pytest.fixture
async def gate(
    tmp_path: Path, face_key: bytes
) -> AsyncIterator[tuple[SimulatedPedestrianGate, PedestrianGatePipeline, RecordingBus]]:
    key = face_key
    bus = RecordingBus()
    ctx = EdgeContext(
        "lakeside", "edge-east", bus, lambda: LocalLists.from_site_vehicles(SITE.vehicles)
    )
    sim = SimulatedPedestrianGate(GATE.id, frames=15, seed=3)
    devices = GateDevices(sim.camera, sim.sensor, GateControl(GATE.id, sim.relay, ctx))
    pipeline = PedestrianGatePipeline(GATE, devices, ctx, PipelineDeps(data_dir=tmp_path))
    cipher = FaceCipher(key)
    persons = [
        {"id": p.id, "role": p.role, "encodings": [e.tolist() for e in _encodings(p.enrol)]}
        for p in DEMO_PEOPLE
    ]
    sealed = seal_bundle(cipher, {"site": "lakeside", "version": 4, "persons": persons})
    directory = seal_directory(
        cipher,
        pass_key(key),
        site="lakeside",
        version=4,
        pins={unit_pin(RESIDENT.unit, RESIDENT.pin or ""): RESIDENT.id},
        cards={},
    )
    message = make_message(
        Kind.FACE_BUNDLE, site="lakeside", device="hub", payload=bundle_payload(sealed, directory)
    )
    for handler in bus.sync_handlers:
        await handler(message)
    task = asyncio.create_task(pipeline.run())
    try:
        yield sim, pipeline, bus
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await devices.control.stop()


async def _passage(sim: SimulatedPedestrianGate, pipeline: PedestrianGatePipeline, act) -> None:
    before = pipeline.decisions
    await asyncio.to_thread(act)
    deadline = time.monotonic() + 40
    while pipeline.decisions == before:
        assert time.monotonic() < deadline, "no decision"
        await asyncio.sleep(0.05)


async def test_short_passage_blacklist_alarm_and_repeated_unknowns(gate) -> None:
    sim, pipeline, bus = gate
    assert pipeline.state is not None and pipeline.state.version == 4

    # Only 4 frames of a photo: the reader never reaches max_frames; leaving decides.
    sim.frames_per_passage = 4
    await _passage(sim, pipeline, lambda: sim.walk_up(FACES_DIR / RESIDENT.walks, live=False))
    refused = bus.of(Kind.GATE_DECISION)[-1]
    assert (refused.decision, refused.reason, refused.subject) == (
        "refuse",
        "not_live",
        RESIDENT.id,
    )
    match = bus.of(Kind.FACE_MATCH)[-1]
    assert match.person == RESIDENT.id and match.live is False
    assert set(match.model_dump()) == {"gate", "person", "distance", "live", "box"}

    sim.frames_per_passage = 15
    await _passage(sim, pipeline, lambda: sim.walk_up(FACES_DIR / BLACKLISTED.walks, live=True))
    assert bus.of(Kind.GATE_DECISION)[-1].reason == "blacklisted"
    assert [a.type for a in bus.of(Kind.ALARM)] == ["blacklist"]
    assert not sim.relay.opens()

    # Refused attempts: the photo above (1), two wrong PINs (2, 3) -> one alarm.
    for _ in range(2):
        await _passage(sim, pipeline, lambda: sim.enter_pin(RESIDENT.unit, "000000"))
    assert [a.type for a in bus.of(Kind.ALARM)] == ["blacklist", "unknown_face_repeated"]
    assert bus.of(Kind.GATE_DECISION)[-1].credential == "pin"


async def test_wrong_pins_lock_the_keypad_with_an_alarm(gate) -> None:
    sim, pipeline, bus = gate
    # the resident's PIN with the wrong unit is as wrong as a wrong PIN
    await _passage(sim, pipeline, lambda: sim.enter_pin("9-999", RESIDENT.pin or ""))
    for _ in range(4):
        await _passage(sim, pipeline, lambda: sim.enter_pin(RESIDENT.unit, "000000"))
    (locked,) = [a for a in bus.of(Kind.ALARM) if a.type == "keypad_locked"]
    assert locked.gate == GATE.id and "30 s after 5 wrong" in locked.detail
    # locked: even the right unit + PIN is refused, without being looked up
    await _passage(sim, pipeline, lambda: sim.enter_pin(RESIDENT.unit, RESIDENT.pin or ""))
    refused = bus.of(Kind.GATE_DECISION)[-1]
    assert (refused.decision, refused.reason) == ("refuse", "keypad_locked")
    assert not sim.relay.opens()
    pipeline.keypad.locked_until = 0.0  # the lock has run out
    await _passage(sim, pipeline, lambda: sim.enter_pin(RESIDENT.unit, RESIDENT.pin or ""))
    opened = bus.of(Kind.GATE_DECISION)[-1]
    assert (opened.decision, opened.subject) == ("open", RESIDENT.id)
    assert pipeline.keypad.failures == 0


def test_no_key_leaves_the_gate_shut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv("ANJU_FACE_KEY_FILE", raising=False)
    bus = RecordingBus()
    ctx = EdgeContext(
        "lakeside", "edge-east", bus, lambda: LocalLists.from_site_vehicles(SITE.vehicles)
    )
    sim = SimulatedPedestrianGate(GATE.id)
    devices = GateDevices(sim.camera, sim.sensor, GateControl(GATE.id, sim.relay, ctx))
    pipeline = PedestrianGatePipeline(GATE, devices, ctx, PipelineDeps(data_dir=tmp_path))
    assert pipeline.state is None and pipeline.key_error
    assert bus.sync_handlers  # registered anyway: a bundle waits for the key
