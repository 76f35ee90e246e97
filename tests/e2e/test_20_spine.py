"""End to end on real parts: a rendered car -> the edge reads the plate from pixels ->
the gate decides locally -> MQTT (real mosquitto, or the embedded broker) -> the hub's
SQLite store and violation records.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from anju_cli.demo import Demo, DemoOptions, load_demo_site
from models.plate import PlateColor
from tests.mosquitto import MosquittoBroker

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RESIDENT = "浙HA1234"  # config/lakeside.yaml residents
BLACKLISTED = "浙HX9999"  # config/lakeside.yaml blacklist


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout} s")


async def start_community(broker: str | None, data: Path) -> Demo:
    # Vehicle gates only: the car park and the pedestrian gate have their own e2e tests.
    options = DemoOptions(
        broker=broker, data=data, arrivals=0, anonymous=True, car_park=False, pedestrians=False
    )
    demo = Demo(options, load_demo_site(options))
    await demo.start()
    return demo


@pytest.fixture
async def community(mosquitto: MosquittoBroker, tmp_path: Path) -> AsyncIterator[Demo]:
    demo = await start_community(mosquitto.url, tmp_path / "data")
    yield demo
    await demo.stop()


def north(demo: Demo):
    return next(g for g in demo.vehicle_gates if g.gate_id == "north-vehicle")


async def decisions_for(demo: Demo, plate: str) -> list[dict]:
    rows = await demo.hub.store.events(kind="gate_decision", limit=1000)
    return [r for r in rows if r["subject"] == plate]


async def plate_reads_for(demo: Demo, plate: str) -> list[dict]:
    rows = await demo.hub.store.events(kind="plate_read", limit=1000)
    return [r for r in rows if r["plate"] == plate]


async def resident_opens_gate(demo: Demo) -> None:
    gate = north(demo)
    since = time.monotonic()
    gate.arrive(RESIDENT, PlateColor.BLUE)
    await until(lambda: _true(gate.relay.first_open_since(since) is not None))

    async def stored() -> bool:
        opened = [d for d in await decisions_for(demo, RESIDENT) if d["decision"] == "open"]
        return bool(opened) and bool(await plate_reads_for(demo, RESIDENT))

    await until(stored)
    assert not await demo.hub.store.violations(type="blacklisted_vehicle")


async def _true(value: bool) -> bool:
    return value


async def test_resident_car_opens_gate_and_is_stored(community: Demo) -> None:
    await resident_opens_gate(community)
    read = (await plate_reads_for(community, RESIDENT))[0]
    assert read["gate"] == "north-vehicle"
    decision = (await decisions_for(community, RESIDENT))[0]
    # The decision links to the plate read it was made from.
    assert read["id"] in decision["payload"]


async def test_blacklisted_car_stays_out_and_becomes_a_violation(community: Demo) -> None:
    gate = north(community)
    since = time.monotonic()
    gate.arrive(BLACKLISTED, PlateColor.BLUE)

    async def violation() -> bool:
        return bool(await community.hub.store.violations(type="blacklisted_vehicle"))

    await until(violation)
    decisions = await decisions_for(community, BLACKLISTED)
    assert decisions and all(d["decision"] == "refuse" for d in decisions)
    assert gate.relay.first_open_since(since) is None
    (record,) = await community.hub.store.violations(type="blacklisted_vehicle")
    assert record["subject"] == BLACKLISTED
    assert record["status"] == "open"


async def test_gate_decides_with_broker_down_and_events_arrive_later(
    durable_broker: MosquittoBroker, tmp_path: Path
) -> None:
    # A production broker keeps sessions across a restart (persistence): the hub's session,
    # and so the messages the edges re-send before the hub is back, survive it.
    mosquitto = durable_broker
    community = await start_community(mosquitto.url, tmp_path / "data")
    try:
        await _broker_down_flow(community, mosquitto)
    finally:
        await community.stop()


async def _broker_down_flow(community: Demo, mosquitto: MosquittoBroker) -> None:
    mosquitto.stop()
    gate = north(community)
    since = time.monotonic()
    gate.arrive(RESIDENT, PlateColor.BLUE)
    # Decided locally from the cached lists: the barrier opens with no broker at all.
    await until(lambda: _true(gate.relay.first_open_since(since) is not None))
    assert not await decisions_for(community, RESIDENT)
    mosquitto.start()

    async def arrived() -> bool:
        return bool(await decisions_for(community, RESIDENT)) and bool(
            await plate_reads_for(community, RESIDENT)
        )

    await until(arrived, timeout=60)
    decisions = await decisions_for(community, RESIDENT)
    assert [d["decision"] for d in decisions] == ["open"]  # stored once, not duplicated


async def test_same_flow_over_the_embedded_broker(tmp_path: Path) -> None:
    demo = await start_community(None, tmp_path / "data")
    try:
        await resident_opens_gate(demo)
    finally:
        await demo.stop()
