"""Face bundle sync pieces without dlib: the edge keeps the newest authentic bundle, sealed
on disk; the hub publishes the store's bundle at start."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest

from anju_cli.demo import without_credentials
from edge.bus import MqttBus
from edge.interfaces import PinAttempt, QrAttempt
from edge.outbox import Outbox
from edge.pedestrian_gate.rules import decide_pedestrian
from edge.pedestrian_gate.sync import FaceSync
from hub.pedestrian_gate.store import FaceStore
from hub.pedestrian_gate.sync import face_db
from models import topics
from models.face_bundle import (
    FaceCipher,
    bundle_payload,
    generate_key,
    parse_key,
    pass_key,
    seal_bundle,
    seal_directory,
)
from models.messages import Kind, make_message, parse_message
from models.passes import issue_pass
from models.site import EXAMPLE_SITE, load_site_config
from tests.mosquitto import MosquittoBroker
from tests.support import faces_hub

SITE = "lakeside"
NOW = datetime.now(UTC)


def _vector(seed: int) -> list[float]:
    return np.random.default_rng(seed).normal(0, 0.1, 128).astype(np.float32).tolist()


def _message(key: bytes, version: int, persons: list[tuple[str, str]], pins=None):
    cipher = FaceCipher(key)
    bundle = {
        "site": SITE,
        "version": version,
        "persons": [
            {"id": p, "role": r, "encodings": [_vector(i)]} for i, (p, r) in enumerate(persons)
        ],
    }
    directory = seal_directory(
        cipher, pass_key(key), site=SITE, version=version, pins=pins or {}, cards={}
    )
    payload = bundle_payload(seal_bundle(cipher, bundle), directory)
    return make_message(Kind.FACE_BUNDLE, site=SITE, device="hub", payload=payload)


@pytest.fixture
def key() -> bytes:
    return parse_key(generate_key())


def _sync(key: bytes, tmp_path: Path) -> FaceSync:
    return FaceSync(SITE, tmp_path / "faces", FaceCipher(key), key)


async def test_newest_version_kept_sealed_and_survives_restart(key: bytes, tmp_path: Path) -> None:
    sync = _sync(key, tmp_path)
    await sync.on_sync(
        _message(
            key,
            2,
            [("person-one", "resident"), ("person-two", "blacklist")],
            {"1-101#123456": "person-one"},
        )
    )
    assert sync.state.version == 2 and sync.state.persons == {"person-one", "person-two"}
    await sync.on_sync(_message(key, 1, [("old", "resident")]))  # a late retained copy
    assert sync.state.version == 2
    await sync.on_sync(_message(key, 3, [("person-two", "blacklist")]))  # p1 erased on the hub
    assert sync.state.persons == {"person-two"}

    on_disk = (tmp_path / "faces" / "faces.bundle").read_bytes()
    assert b"person-" not in on_disk and b"encodings" not in on_disk
    restarted = _sync(key, tmp_path)
    assert restarted.load_cached() and restarted.state.version == 3
    assert restarted.state.persons == {"person-two"}


async def test_forged_or_foreign_bundles_are_refused(key: bytes, tmp_path: Path) -> None:
    sync = _sync(key, tmp_path)
    await sync.on_sync(_message(key, 1, [("person-one", "resident")]))
    other = parse_key(generate_key())
    await sync.on_sync(_message(other, 5, [("intruder", "resident")]))  # wrong key
    raw = json.loads(_message(key, 6, [("person-one", "resident")]).to_json())
    raw["payload"]["version"] = 7  # replayed as another version: bound in the ciphertext
    await sync.on_sync(parse_message(json.dumps(raw)))
    assert sync.state.version == 1 and sync.state.persons == {"person-one"}
    assert _sync(key, tmp_path).load_cached()


async def test_directory_gives_pins_and_passes(key: bytes, tmp_path: Path) -> None:
    sync = _sync(key, tmp_path)
    await sync.on_sync(
        _message(key, 1, [("person-one", "resident")], {"2-202#246813": "person-one"})
    )
    directory = sync.state.directory
    assert decide_pedestrian(PinAttempt("2-202", "246813"), directory, now=NOW).opens
    assert not decide_pedestrian(PinAttempt("2-202", "111111"), directory, now=NOW).opens
    token = issue_pass(
        pass_key(key),
        site=SITE,
        pass_id="V1",
        valid_from=NOW - timedelta(minutes=1),
        valid_until=NOW + timedelta(hours=1),
    )
    assert decide_pedestrian(QrAttempt(token), directory, now=NOW).opens
    on_disk = (tmp_path / "faces" / "faces.directory").read_text()
    assert "246813" not in on_disk and "person-" not in on_disk


def _enroll(db: Path, key: bytes, person: str) -> int:
    with FaceStore(db, FaceCipher(key)) as store:
        return store.enroll(
            site=SITE,
            person=person,
            role="resident",
            encodings=[np.asarray(_vector(1), np.float32)],
            consent_by="test",
            purpose="test",
            expires_at=NOW + timedelta(days=1),
        )


async def test_hub_publishes_at_start_and_after_a_cli_enrolment(
    mosquitto: MosquittoBroker, tmp_path: Path, face_key: bytes
) -> None:
    site = without_credentials(load_site_config(EXAMPLE_SITE))
    hub_app = faces_hub(mosquitto.url, site, tmp_path / "hub")
    hub = hub_app.hub
    _enroll(face_db(hub), face_key, "person-one")

    received: list[bytes] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, msg: received.append(msg.payload)
    client.connect("127.0.0.1", mosquitto.port)
    client.subscribe(str(topics.sync(SITE, "faces")), qos=1)
    client.loop_start()

    async def versions() -> list[int]:
        return [parse_message(r).payload.version for r in received]  # type: ignore[attr-defined]

    async def wait_for(version: int) -> None:
        for _ in range(100):
            if version in await versions():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"bundle version {version} not received: {await versions()}")

    await hub_app.start()
    try:
        await wait_for(1)
        assert b"person-" not in received[0]  # person ids and templates travel encrypted
        # As `anju face enroll` in another process would: the hub notices and republishes.
        await asyncio.to_thread(_enroll, face_db(hub), face_key, "person-two")
        await wait_for(2)
    finally:
        client.loop_stop()
        client.disconnect()
        await hub_app.stop()


async def test_a_large_community_bundle_reaches_the_edge(
    mosquitto: MosquittoBroker, tmp_path: Path, face_key: bytes
) -> None:
    """3,000 residents with two encodings each: a bundle of several MB (far above the
    256 KiB limit of edge events) travels retained to the edge's bus and is matched there."""
    key = face_key
    site = without_credentials(load_site_config(EXAMPLE_SITE))
    hub_app = faces_hub(mosquitto.url, site, tmp_path / "hub")
    hub = hub_app.hub
    rng = np.random.default_rng(7)
    people = rng.normal(0, 0.1, (3000, 2, 128)).astype(np.float32)
    with FaceStore(face_db(hub), FaceCipher(key)) as store:
        for i, encodings in enumerate(people):
            store.enroll(
                site=SITE,
                person=f"r-{i:04d}",
                role="resident",
                encodings=list(encodings),
                consent_by="test",
                purpose="test",
                expires_at=NOW + timedelta(days=1),
            )
    outbox = Outbox(tmp_path / "outbox.db")
    bus = MqttBus(SITE, "edge-east", mosquitto.url, outbox)
    sync = _sync(key, tmp_path / "edge")
    bus.on_sync(sync.on_sync)
    await hub_app.start()
    await bus.start()
    try:
        for _ in range(300):
            if len(sync.state.persons) == 3000:
                break
            await asyncio.sleep(0.1)
        assert len(sync.state.persons) == 3000, bus.rejected_messages
        size = (tmp_path / "edge" / "faces" / "faces.bundle").stat().st_size
        assert size > 4 * 256 * 1024
        match = sync.state.matcher.match(people[1234, 0] + 0.001)
        assert match.person == "r-1234"
    finally:
        await bus.stop()
        outbox.close()
        await hub_app.stop()
