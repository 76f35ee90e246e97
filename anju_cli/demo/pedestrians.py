"""The pedestrian part of ``anju demo``: enrol the fixture faces on the hub, sync them to the
pedestrian gate's edge, and play a loop of people at the gate.

    task = await start_pedestrians(demo)   # after the hub and edges have started

Scenario, in a loop: a resident walks up (opens), a photo of that resident is held up
(refused: not live), a stranger tries three times (refused; the third time is an
``unknown_face_repeated`` violation), a blacklisted person walks up (refused + alarm),
a visitor shows a QR pass (opens), a resident types a PIN (opens), someone pulls the
locked door open (door_forced), a resident wedges the door open after a PIN (door_held).
Face key: $ANJU_FACE_KEY / $ANJU_FACE_KEY_FILE if set, else a demo key kept in the demo's
data directory (``ensure_demo_face_key``). Edges started before the key was set pick it up
within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from edge.pedestrian_gate.rules import PedestrianSettings
from hub.pedestrian_gate.store import StoreError
from hub.pedestrian_gate.sync import enroll_person, publish_faces, set_gate_credentials
from models.face_bundle import (
    KEY_ENV,
    KEY_FILE_ENV,
    FaceKeyError,
    generate_key,
    load_face_key,
    pass_key,
)
from models.messages import GatePosition
from models.passes import issue_pass, unit_pin
from recognition.face.detector import load_rgb
from recognition.face.quality import check_image, enrolment_stack
from simulators.faces import FACES_DIR
from simulators.pedestrian_gate import SimulatedPedestrianGate

log = logging.getLogger(__name__)

DEMO_OPERATOR = "demo-operator"
DEMO_PURPOSE = "demo"


@dataclass(frozen=True)
class DemoPerson:
    id: str
    role: str  # resident | blacklist
    enrol: tuple[str, ...]  # photos enrolled
    walks: str  # photo the gate camera sees
    pin: str | None = None
    unit: str = ""  # typed before the PIN at the keypad


DEMO_PEOPLE = (
    DemoPerson(
        "res-obama",
        "resident",
        ("obama.jpg", "obama2.jpg"),
        "obama3.jpg",
        pin="246813",
        unit="3-201",
    ),
    DemoPerson("bl-biden", "blacklist", ("biden.jpg",), "biden.jpg"),
)
STRANGER = "astronaut.jpg"  # never enrolled
DOOR_GRACE_S = PedestrianSettings().door_grace_s  # the door may open this long after locking


def ensure_demo_face_key(data_dir: Path) -> None:
    """Unless a face key is configured, use the demo's own key, kept in ``data_dir`` so that
    a later demo run on the same data can still open what this one sealed."""
    if os.environ.get(KEY_ENV) or os.environ.get(KEY_FILE_ENV):
        return
    path = Path(data_dir) / "demo-face.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(generate_key())
    os.environ[KEY_ENV] = path.read_text().strip()


def pedestrian_gates(demo: Any) -> list[SimulatedPedestrianGate]:
    return [g for g in demo.vehicle_gates if isinstance(g, SimulatedPedestrianGate)]


def _encodings(photos: tuple[str, ...]) -> list[np.ndarray]:
    stack = enrolment_stack()
    out = []
    for name in photos:
        report = check_image(load_rgb(FACES_DIR / name), stack)
        if report.face is None or report.face.encoding is None:
            raise ValueError(f"{name}: no usable face ({report.problems})")
        out.append(report.face.encoding)
    return out


async def enroll_demo_people(hub: Any, site: str) -> int:
    """Enrol DEMO_PEOPLE (consent by the demo operator, purpose "demo") unless already
    enrolled; set their PINs; publish the bundle. Returns the published version."""
    from hub.pedestrian_gate.store import FaceStore
    from hub.pedestrian_gate.sync import face_db

    def enrolled() -> set[str]:
        with FaceStore(face_db(hub), None) as store:
            return {p for p, _s, _r in store.persons(site)}

    present = await asyncio.to_thread(enrolled)
    await set_gate_credentials(
        hub, site, pins={unit_pin(p.unit, p.pin): p.id for p in DEMO_PEOPLE if p.pin}
    )
    expires = datetime.now(UTC) + timedelta(days=30)
    for person in DEMO_PEOPLE:
        if person.id in present:
            continue
        encodings = await asyncio.to_thread(_encodings, person.enrol)
        await enroll_person(
            hub,
            site,
            person.id,
            person.role,
            encodings,
            consent_by=DEMO_OPERATOR,
            purpose=DEMO_PURPOSE,
            expires_at=expires,
        )
    return await publish_faces(hub, site)


def visitor_pass(site: str, pass_id: str, hours: float = 2.0) -> str:
    now = datetime.now(UTC)
    return issue_pass(
        pass_key(load_face_key()),
        site=site,
        pass_id=pass_id,
        valid_from=now - timedelta(minutes=1),
        valid_until=now + timedelta(hours=hours),
    )


Step = tuple[str, Callable[[SimulatedPedestrianGate], None]]


def scenario(site: str) -> list[Step]:
    resident, blacklisted = DEMO_PEOPLE
    steps: list[Step] = [
        ("resident_live", lambda g: g.walk_up(FACES_DIR / resident.walks, live=True)),
        ("photo_attack", lambda g: g.walk_up(FACES_DIR / resident.walks, live=False)),
    ]
    steps += [("stranger", lambda g: g.walk_up(FACES_DIR / STRANGER, live=True)) for _ in range(3)]
    steps += [
        ("blacklisted", lambda g: g.walk_up(FACES_DIR / blacklisted.walks, live=True)),
        ("qr_visitor", lambda g: g.present_qr(visitor_pass(site, "DEMO-V1"))),
        ("pin", lambda g: g.enter_pin(resident.unit, resident.pin or "")),
        ("door_forced", _force_when_locked),
        ("door_propped", lambda g: _prop_after_unlock(g, resident, seconds=20.0)),
    ]
    return steps


def _force_when_locked(gate: SimulatedPedestrianGate) -> None:
    """Someone pulls the door open once it has locked again: the unlock before (the PIN
    step) plus the door's grace period must be over, or the opening is an authorised one."""
    deadline = time.monotonic() + 30.0
    while gate.relay.position is GatePosition.OPEN and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(DOOR_GRACE_S + 0.5)
    gate.force_door(1.0)


def _prop_after_unlock(gate: SimulatedPedestrianGate, person: DemoPerson, seconds: float) -> None:
    """A resident unlocks with their PIN and wedges the door open behind them: door_held
    (the gate's held_open_s is 15 s in the example site), but not door_forced."""
    opens = len(gate.relay.opens())
    gate.enter_pin(person.unit, person.pin or "")
    deadline = time.monotonic() + 10.0
    while len(gate.relay.opens()) == opens and time.monotonic() < deadline:
        time.sleep(0.05)
    gate.prop_door(seconds)


class PedestrianScenario:
    def __init__(self, gate: SimulatedPedestrianGate, site: str, interval_s: float = 2.0) -> None:
        self.gate = gate
        self.site = site
        self.interval_s = interval_s
        self.played: Counter[str] = Counter()

    async def run(self, rounds: int | None = None) -> None:
        done = 0
        while rounds is None or done < rounds:
            for name, act in scenario(self.site):
                await asyncio.to_thread(act, self.gate)  # rendering frames is CPU work
                self.played[name] += 1
                while self.gate.occupied:  # the gate reads the whole passage first
                    await asyncio.sleep(0.1)
                await asyncio.sleep(self.interval_s)
            done += 1


async def start_pedestrians(
    demo: Any, *, rounds: int | None = None, interval_s: float = 2.0
) -> asyncio.Task[None] | None:
    """Enrol the demo faces, publish them, run the pedestrian scenario; None when the demo
    has no hub or no pedestrian gate. The task's ``scenario`` attribute counts what played."""
    gates = pedestrian_gates(demo)
    if demo.hub is None or not gates:
        return None
    ensure_demo_face_key(demo.options.data)
    site = demo.site.site.id
    try:
        version = await enroll_demo_people(demo.hub, site)
    except (FaceKeyError, StoreError, ValueError) as exc:  # e.g. data sealed with another key
        log.error("pedestrians: no face enrolment, scenario not started: %s", exc)
        return None
    log.info("pedestrians: faces version %d published for %s", version, site)
    runner = PedestrianScenario(gates[0], site, interval_s)
    task = asyncio.create_task(runner.run(rounds), name="pedestrians")
    task.scenario = runner  # type: ignore[attr-defined]
    with contextlib.suppress(AttributeError):
        demo._tasks.append(task)  # cancelled with the demo's other tasks
    return task
