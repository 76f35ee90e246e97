"""Face access end to end over a real mosquitto: enrol on the hub -> sealed bundle synced to
the pedestrian gate's edge -> real dlib on rendered gate frames -> door relay -> events in
the hub's database (person id and distance, never a template)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import face_recognition
import numpy as np
import pytest

from anju_cli.demo import without_credentials
from anju_cli.demo.pedestrians import DEMO_PEOPLE, FACES_DIR, _encodings, visitor_pass
from edge.agent import EdgeAgent
from edge.pedestrian_gate.pipeline import PedestrianGatePipeline
from hub.pedestrian_gate.sync import delete_person, enroll_person, set_gate_credentials
from hub.service import Hub
from models.passes import unit_pin
from models.site import EXAMPLE_SITE, load_site_config
from simulators.hardware import simulated_hardware
from simulators.pedestrian_gate import SimulatedPedestrianGate
from tests.mosquitto import MosquittoBroker
from tests.support import faces_hub

EDGE, GATE, SITE = "edge-east", "east-pedestrian", "lakeside"
RESIDENT, BLACKLISTED = DEMO_PEOPLE
PIN = RESIDENT.pin or ""


@pytest.fixture(scope="module")
def encodings() -> dict[str, list[np.ndarray]]:
    return {p.id: _encodings(p.enrol) for p in DEMO_PEOPLE}


async def until(check: Callable[[], Awaitable[bool] | bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        await asyncio.sleep(0.1)


class Edge:
    """The east edge on simulated hardware; restartable on the same data directory."""

    def __init__(self, site: Any, broker_url: str, data: Path, hub_keys: list[Any]) -> None:
        self.site, self.broker_url, self.data = site, broker_url, data
        self.hub_keys = hub_keys  # the hub's public key, pinned
        self.agent: EdgeAgent | None = None
        self.gate: SimulatedPedestrianGate | None = None

    async def start(self) -> None:
        sims, camera, relay, sensor = simulated_hardware(self.site, EDGE, seed=7)
        self.gate = sims[GATE]
        self.agent = EdgeAgent(
            self.site,
            EDGE,
            broker_url=self.broker_url,
            data_dir=self.data,
            camera_factory=camera,
            relay_factory=relay,
            sensor_factory=sensor,
            heartbeat_s=60,
            hub_keys=self.hub_keys,
        )
        await self.agent.start()

    @property
    def pipeline(self) -> PedestrianGatePipeline:
        assert self.agent is not None
        pipeline = self.agent.pipelines[GATE]
        assert isinstance(pipeline, PedestrianGatePipeline)
        return pipeline

    def version(self) -> int | None:
        state = self.pipeline.state
        return state.version if state else None

    async def stop(self) -> None:
        if self.agent is not None:
            await self.agent.stop()
            self.agent = None

    async def pass_through(self, act: Callable[[SimulatedPedestrianGate], None]) -> bool:
        """Do ``act`` at the gate; True if the door opened for it."""
        gate = self.gate
        assert gate is not None
        decided = self.pipeline.decisions
        opens = len(gate.relay.opens())
        await asyncio.to_thread(act, gate)
        await until(lambda: self.pipeline.decisions > decided, timeout=40)
        await until(lambda: not gate.occupied)  # the person has walked on
        return len(gate.relay.opens()) > opens


@pytest.fixture
async def community(
    mosquitto: MosquittoBroker, tmp_path: Path, face_key: bytes
) -> AsyncIterator[tuple[Hub, Edge]]:
    site = without_credentials(load_site_config(EXAMPLE_SITE))
    hub_app = faces_hub(mosquitto.url, site, tmp_path / "hub")
    hub = hub_app.hub
    await hub_app.start()
    edge = Edge(site, mosquitto.url, tmp_path / "edge", [hub.signing_key.public_key()])
    try:
        yield hub, edge
    finally:
        await edge.stop()
        await hub_app.stop()


async def enroll_all(hub: Hub, encodings: dict[str, list[np.ndarray]]) -> int:
    version = 0
    await set_gate_credentials(hub, SITE, pins={unit_pin(RESIDENT.unit, PIN): RESIDENT.id})
    for person in DEMO_PEOPLE:
        version = await enroll_person(
            hub,
            SITE,
            person.id,
            person.role,
            encodings[person.id],
            consent_by="test operator",
            purpose="test",
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
    return version


def live(photo: str) -> Callable[[SimulatedPedestrianGate], None]:
    return lambda g: g.walk_up(FACES_DIR / photo, live=True)


def photo_attack(photo: str) -> Callable[[SimulatedPedestrianGate], None]:
    return lambda g: g.walk_up(FACES_DIR / photo, live=False)


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    payload = row["payload"]
    return json.loads(payload) if isinstance(payload, str) else payload


def _has_template(value: Any) -> bool:
    """Anything that looks like a face template: a long list of numbers, or a key naming one."""
    if isinstance(value, dict):
        return any("encoding" in k or _has_template(v) for k, v in value.items())
    if isinstance(value, list):
        return len(value) > 16 or any(_has_template(v) for v in value)
    return False


async def stored(hub: Hub, kind: str) -> list[dict[str, Any]]:
    await hub.flush()
    assert hub.store is not None
    return [_payload(r) for r in await hub.store.events(kind=kind, limit=1000)]


async def test_enrol_sync_open_refuse_photo_then_erase(
    community: tuple[Hub, Edge], encodings: dict[str, list[np.ndarray]]
) -> None:
    hub, edge = community
    version = await enroll_all(hub, encodings)
    await edge.start()  # the retained bundle is waiting on the broker
    await until(lambda: edge.version() == version)
    assert edge.pipeline.state is not None
    assert edge.pipeline.state.persons == {RESIDENT.id, BLACKLISTED.id}

    assert await edge.pass_through(live(RESIDENT.walks))

    async def match_stored() -> bool:
        return any(m["person"] == RESIDENT.id for m in await stored(hub, "face_match"))

    await until(match_stored)
    match = next(m for m in await stored(hub, "face_match") if m["person"] == RESIDENT.id)
    assert match["live"] is True and 0 <= match["distance"] <= 0.5
    decision = (await stored(hub, "gate_decision"))[0]
    assert (decision["credential"], decision["decision"], decision["subject"]) == (
        "face",
        "open",
        RESIDENT.id,
    )
    assert decision["list_version"] == version

    assert not await edge.pass_through(photo_attack(RESIDENT.walks))
    await until(
        lambda: _decided(hub, lambda d: d["reason"] == "not_live" and d["subject"] == RESIDENT.id)
    )

    # A blacklisted person: refused, and the alarm carries their face as evidence (the only
    # event that carries a face picture).
    assert not await edge.pass_through(live(BLACKLISTED.walks))

    async def blacklist_alarm() -> dict[str, Any] | None:
        return next((a for a in await stored(hub, "alarm") if a["type"] == "blacklist"), None)

    await until(blacklist_alarm)
    alarm = await blacklist_alarm()
    assert alarm is not None and alarm["severity"] == "critical"
    jpeg = base64.b64decode(alarm["crop_jpeg_b64"])
    crop = cv2.cvtColor(
        cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
    )
    assert max(crop.shape[:2]) <= 160
    seen = face_recognition.face_encodings(crop, num_jitters=1)
    assert len(seen) == 1  # the crop is a face ...
    assert np.linalg.norm(seen[0] - encodings[BLACKLISTED.id][0]) < 0.6  # ... the right one
    assert not any("crop_jpeg_b64" in m for m in await stored(hub, "face_match"))

    # Erasure: a new version without the person reaches the edge, which then refuses them.
    erasure = await delete_person(hub, RESIDENT.id, operator="test admin")
    await until(lambda: edge.version() == erasure.bundle_version)
    assert edge.pipeline.state is not None
    assert RESIDENT.id not in edge.pipeline.state.persons
    cached = (edge.data / "faces" / "faces.bundle").read_bytes()
    assert RESIDENT.id.encode() not in cached and b"encodings" not in cached  # sealed at rest
    assert not await edge.pass_through(live(RESIDENT.walks))
    await until(lambda: _decided(hub, lambda d: d["reason"] == "unknown"))

    # No template in any event the hub stored, of any kind.
    await hub.flush()
    assert hub.store is not None
    rows = await hub.store.events(limit=10_000)
    assert rows and not any(_has_template(_payload(r)) for r in rows)


async def _decided(hub: Hub, check: Callable[[dict[str, Any]], bool]) -> bool:
    return any(check(d) for d in await stored(hub, "gate_decision"))


async def test_cached_bundle_opens_with_broker_down_and_qr_pin(
    community: tuple[Hub, Edge],
    mosquitto: MosquittoBroker,
    encodings: dict[str, list[np.ndarray]],
) -> None:
    hub, edge = community
    version = await enroll_all(hub, encodings)
    await edge.start()
    await until(lambda: edge.version() == version)
    await edge.stop()
    await hub.stop()
    mosquitto.stop()

    await edge.start()  # no broker, no hub: only the sealed cache on disk
    assert edge.version() == version
    assert await edge.pass_through(live(RESIDENT.walks))
    assert await edge.pass_through(lambda g: g.present_qr(visitor_pass(SITE, "V-TEST")))
    assert await edge.pass_through(lambda g: g.enter_pin(RESIDENT.unit, PIN))
    assert not await edge.pass_through(lambda g: g.enter_pin(RESIDENT.unit, "000000"))
    assert edge.agent is not None and await edge.agent.bus.pending() > 0  # kept for later


def with_door_limit(site: Any, held_open_s: float) -> Any:
    gates = [
        g.model_copy(update={"door": g.door.model_copy(update={"held_open_s": held_open_s})})
        if g.id == GATE
        else g
        for g in site.gates
    ]
    return site.model_copy(update={"gates": gates})


async def test_door_forced_and_held_raise_alarms_and_violations(
    community: tuple[Hub, Edge], encodings: dict[str, list[np.ndarray]]
) -> None:
    """The door contact: pulled open while locked -> door_forced; a PIN unlock and the
    person walking through -> nothing; wedged open after an unlock -> door_held only."""
    hub, edge = community
    edge.site = with_door_limit(edge.site, held_open_s=2.5)  # a walk-through takes 1.5 s
    version = await enroll_all(hub, encodings)
    await edge.start()
    await until(lambda: edge.version() == version)
    gate = edge.gate
    assert gate is not None

    async def alarms() -> list[str]:
        return [p["type"] for p in await stored(hub, "alarm")]

    gate.force_door(0.5)
    await until(lambda: _contains(alarms(), "door_forced"))

    assert await edge.pass_through(lambda g: g.enter_pin(RESIDENT.unit, PIN))
    await asyncio.sleep(2.5)  # the walk-through (0.4-1.9 s after the unlock) is over
    assert await alarms() == ["door_forced"]

    assert await edge.pass_through(lambda g: g.enter_pin(RESIDENT.unit, PIN))
    gate.prop_door(4.0)
    await until(lambda: _contains(alarms(), "door_held"))
    assert sorted(await alarms()) == ["door_forced", "door_held"]
    assert hub.store is not None
    types = sorted(v["type"] for v in await hub.store.violations(limit=100))
    assert "door_forced" in types and "door_held" in types


async def _contains(values: Awaitable[list[str]], wanted: str) -> bool:
    return wanted in await values


async def test_wrong_pins_lock_the_keypad_and_the_hub_gets_the_alarm(
    community: tuple[Hub, Edge], encodings: dict[str, list[np.ndarray]]
) -> None:
    """Guessing PINs at the keypad: five wrong unit + PIN entries lock it (even the right
    PIN is refused then) and a keypad_locked alarm reaches the hub as a violation."""
    hub, edge = community
    version = await enroll_all(hub, encodings)
    await edge.start()
    await until(lambda: edge.version() == version)
    for guess in ("000000", "111111", "123456", "654321", "999999"):
        assert not await edge.pass_through(lambda g, guess=guess: g.enter_pin(RESIDENT.unit, guess))
    assert not await edge.pass_through(lambda g: g.enter_pin(RESIDENT.unit, PIN))

    async def locked() -> bool:
        return any(p["type"] == "keypad_locked" for p in await stored(hub, "alarm"))

    await until(locked)
    await until(lambda: _decided(hub, lambda d: d["reason"] == "keypad_locked"))
    assert hub.store is not None

    async def opened() -> bool:
        assert hub.store is not None
        return bool(await hub.store.violations(type="keypad_locked"))

    await until(opened)
    (violation,) = await hub.store.violations(type="keypad_locked")
    assert violation["gate"] == GATE
