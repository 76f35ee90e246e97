"""A lapsed face consent leaves the edges too: the running hub's retention job erases the
person and publishes a bundle without them, which an edge's FaceSync applies (real mosquitto,
real AES-GCM bundles; encodings are synthetic vectors)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt

from anju_cli.demo import without_credentials
from edge.pedestrian_gate.sync import FaceSync
from hub.pedestrian_gate.store import FaceStore
from hub.pedestrian_gate.sync import face_db
from hub.retention.job import run_retention
from models import topics
from models.face_bundle import FaceCipher
from models.messages import parse_message
from models.site import EXAMPLE_SITE, load_site_config
from tests.mosquitto import MosquittoBroker
from tests.support import faces_hub

SITE = "lakeside"


def _enroll(db: Path, key: bytes, person: str, seed: int, expires: datetime) -> None:
    vector = np.random.default_rng(seed).normal(0, 0.1, 128).astype(np.float32)
    with FaceStore(db, FaceCipher(key)) as store:
        store.enroll(
            site=SITE,
            person=person,
            role="resident",
            encodings=[vector],
            consent_by=person,
            purpose="gate access",
            expires_at=expires,
        )


async def test_lapsed_person_leaves_hub_and_edge(
    mosquitto: MosquittoBroker, tmp_path: Path, face_key: bytes
) -> None:
    key = face_key
    site = without_credentials(load_site_config(EXAMPLE_SITE))
    hub_app = faces_hub(mosquitto.url, site, tmp_path / "hub")
    hub = hub_app.hub
    now = datetime.now(UTC)
    _enroll(face_db(hub), key, "lapsing", 1, now + timedelta(hours=1))
    _enroll(face_db(hub), key, "staying", 2, now + timedelta(days=365))

    edge = FaceSync(SITE, tmp_path / "edge-faces", FaceCipher(key), key)
    received: list[bytes] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, msg: received.append(msg.payload)
    client.connect("127.0.0.1", mosquitto.port)
    client.subscribe(str(topics.sync(SITE, "faces")), qos=1)
    client.loop_start()

    async def edge_reaches(version: int) -> None:
        for _ in range(100):
            while received:
                await edge.on_sync(parse_message(received.pop(0)))
            if edge.state.version == version:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"edge at version {edge.state.version}, not {version}")

    await hub_app.start()
    try:
        await edge_reaches(2)
        assert edge.state.persons == {"lapsing", "staying"}
        assert hub.store is not None
        # Two hours later the first consent has lapsed (grace 0 days).
        report = await run_retention(hub.store, [site], now=now + timedelta(hours=2), hub=hub)
        assert report["sites"][SITE]["faces_erased"] == ["lapsing"]
        await edge_reaches(3)
        assert edge.state.persons == {"staying"}
        with FaceStore(face_db(hub), None) as store:
            assert [p for p, _, _ in store.persons(SITE)] == ["staying"]
            assert store.erasures("lapsing")[0].operator == "retention"
        cached = FaceSync(SITE, tmp_path / "edge-faces", FaceCipher(key), key)
        assert cached.load_cached() and cached.state.persons == {"staying"}  # on disk too
    finally:
        client.loop_stop()
        client.disconnect()
        await hub_app.stop()
