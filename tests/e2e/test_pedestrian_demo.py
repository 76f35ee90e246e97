"""The pedestrian part of the demo on a private mosquitto: one round of the scenario, and
what the hub stored from it (decisions by face, QR and PIN; violations)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from anju_cli.demo import Demo, DemoOptions, load_demo_site
from anju_cli.demo.pedestrians import DEMO_PEOPLE, start_pedestrians
from models.face_bundle import KEY_ENV
from tests.mosquitto import MosquittoBroker

RESIDENT, BLACKLISTED = DEMO_PEOPLE


async def test_demo_pedestrian_round(
    mosquitto: MosquittoBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "")  # the demo sets its own key (restored afterwards)
    options = DemoOptions(
        broker=mosquitto.url,
        data=tmp_path / "data",
        arrivals=0,
        anonymous=True,
        car_park=False,  # started by the test
        pedestrians=False,
    )
    demo = Demo(options, load_demo_site(options))
    await demo.start()  # edges start without a face key: the gate waits for one
    assert demo.pedestrians is None  # this test plays exactly one round itself
    try:
        task = await start_pedestrians(demo, rounds=1, interval_s=0.2)
        assert task is not None
        await asyncio.wait_for(task, 120)
        assert sum(task.scenario.played.values()) == 10  # type: ignore[attr-defined]

        async def stored() -> list[tuple[str, str, str, str]]:
            await demo.hub.flush()
            rows = await demo.hub.store.events(kind="gate_decision", limit=100)
            payloads = [json.loads(r["payload"]) for r in rows if r["gate"] == "east-pedestrian"]
            return sorted(
                (p["credential"], p["decision"], p["reason"], p["subject"]) for p in payloads
            )

        deadline = time.monotonic() + 20
        while len(decisions := await stored()) < 9 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert decisions == sorted(
            [
                ("face", "open", "resident", RESIDENT.id),
                ("face", "refuse", "not_live", RESIDENT.id),
                *[("face", "refuse", "unknown", "unknown")] * 3,
                ("face", "refuse", "blacklisted", BLACKLISTED.id),
                ("qr", "open", "visitor_pass", "DEMO-V1"),
                *[("pin", "open", "resident", RESIDENT.id)] * 2,  # the 2nd props the door
            ]
        )
        expected = {"unknown_face_repeated", "blacklist", "door_forced"}
        expected.add("door_held")  # the door is wedged open 20 s; the site's limit is 15 s
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            violations = {v["type"] for v in await demo.hub.store.violations()}
            if expected <= violations:
                break
            await asyncio.sleep(0.5)
        assert expected <= violations
        assert "blacklisted_person" not in violations  # the refusal and its alarm: one case
        alarms = [
            json.loads(r["payload"])["type"] for r in await demo.hub.store.events(kind="alarm")
        ]
        assert alarms.count("door_forced") == 1  # the PIN unlocks were not forced openings
    finally:
        await demo.stop()
