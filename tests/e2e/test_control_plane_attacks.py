"""Issue 13's attacks on the control plane, on real parts: a real mosquitto, the real hub, a real
edge agent on simulated gate hardware, and an attacker that is just another MQTT client on the
broker. Forged, replayed and far-future commands never move the barrier and end as alarms on
the hub; forged lists and car-park snapshots change nothing; device dates from 2099 and 1970
are rejected with their reason; an ack for a command the hub never sent opens a violation;
evidence naming another community's event is dropped."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.agent import EdgeAgent
from edge.car_park.service import capacity_service
from hub.keys import load_or_create_hub_key
from hub.service import Hub
from models import topics
from models.messages import Kind, ListedPass, make_message, utcnow
from models.signing import HUB_DEVICE, generate_key, sign_message
from models.site import EXAMPLE_SITE, SiteConfig, load_yaml
from simulators.hardware import simulated_hardware
from tests.mosquitto import MosquittoBroker
from tests.support import PahoClient

pytestmark = pytest.mark.e2e

SITE, OTHER = "lakeside", "riverside"
NORTH, GATE, EAST, CARPARK = "edge-north", "north-vehicle", "edge-east", "edge-carpark"


def site_config(site_id: str) -> SiteConfig:
    """The example community under ``site_id``; anonymous broker (no edge credentials)."""
    data = load_yaml(EXAMPLE_SITE)
    data["site"]["id"] = site_id
    for edge in data["edges"]:
        edge.pop("credentials", None)
    return SiteConfig.model_validate(data)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)


@dataclass
class Community:
    hub: Hub
    agent: EdgeAgent
    gate: Any  # the simulated north vehicle gate
    capacity: Any  # the edge's car-park capacity check (relayed snapshots)
    attacker: PahoClient

    async def refusal_alarms(self) -> list[dict[str, Any]]:
        assert self.hub.store
        rows = await self.hub.store.events(kind="alarm", site=SITE, limit=1000)
        alarms = [json.loads(r["payload"]) for r in rows]
        return [a for a in alarms if a["type"] == "control_refused"]


@pytest.fixture
async def community(mosquitto: MosquittoBroker, tmp_path: Path) -> AsyncIterator[Community]:
    site = site_config(SITE)
    hub = Hub([site, site_config(OTHER)], broker_url=mosquitto.url, data_dir=tmp_path / "hub")
    await hub.start()
    sims, camera, relay, sensor = simulated_hardware(site, NORTH, seed=3)
    factory = capacity_service(site)
    agent = EdgeAgent(
        site,
        NORTH,
        broker_url=mosquitto.url,
        data_dir=tmp_path / "edge",
        camera_factory=camera,
        relay_factory=relay,
        sensor_factory=sensor,
        services=[factory],
        heartbeat_s=60,
        hub_keys=[hub.signing_key.public_key()],  # pinned, as `anju edge --hub-key hub.pub`
    )
    await agent.start()
    assert agent.bus is not None and await agent.bus.wait_connected(10)
    attacker = PahoClient(mosquitto.port)
    attacker.subscribe(str(topics.command(SITE, NORTH, "gate")))  # it sees the hub's commands
    await asyncio.sleep(0.3)  # subscriptions settle
    try:
        yield Community(hub, agent, sims[GATE], factory.check, attacker)
    finally:
        attacker.close()
        await agent.stop()
        await hub.stop()


def command(site: str = SITE, device: str = NORTH, *, expires_at: datetime | None = None) -> Any:
    return make_message(
        Kind.GATE_COMMAND,
        site=site,
        device=device,
        payload={
            "gate": GATE,
            "action": "open",
            "reason": "remote open by attacker",
            "operator": "attacker",
            "expires_at": expires_at or utcnow() + timedelta(seconds=10),
        },
    )


async def test_forged_replayed_and_far_future_commands_never_open_the_barrier(
    community: Community,
) -> None:
    hub, gate, attacker = community.hub, community.gate, community.attacker
    cmd_topic = str(topics.command(SITE, NORTH, "gate"))
    forged = {
        "unsigned": command().to_json(),
        "wrong key": sign_message(command(), generate_key()).to_json(),
        # signed by the real hub key, but not for this edge: must not be usable here
        "other site": hub.sign(command(site=OTHER)).to_json(),
        "other device": hub.sign(command(device="edge-south")).to_json(),
        "2096": hub.sign(command(expires_at=datetime(2096, 1, 1, tzinfo=UTC))).to_json(),
    }
    for payload in forged.values():
        attacker.publish(cmd_topic, payload).wait_for_publish(5)

    async def alarmed(n: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return len(await community.refusal_alarms()) >= n

        return check

    await until(await alarmed(len(forged)))
    assert len(gate.relay.opens()) == 0, "a forged command moved the barrier"
    details = " | ".join(a["detail"] for a in await community.refusal_alarms())
    for reason in ("unsigned", "not a pinned hub key", "for site", "for device", "ahead"):
        assert reason in details, (reason, details)

    # The hub's own command works, once; the captured bytes replayed do nothing.
    outcome = await hub.send_gate_command(
        SITE, NORTH, GATE, "open", reason="resident called from the gate", operator="guard1"
    )
    assert outcome.ok, outcome
    assert len(gate.relay.opens()) == 1
    captured = [m for m in attacker.received if json.loads(m.payload)["id"] == outcome.command_id]
    assert captured, "the attacker did not see the hub's command"
    attacker.publish(cmd_topic, captured[0].payload).wait_for_publish(5)
    await until(await alarmed(len(forged) + 1))
    assert "replayed" in (await community.refusal_alarms())[0]["detail"]
    assert len(gate.relay.opens()) == 1, "a replayed command opened the barrier again"

    # Every refusal is a violation on the hub, for the guards to see.
    assert hub.store
    violations = await hub.store.violations(type="control_refused", site=SITE)
    assert len(violations) == len(forged) + 1
    assert {v["severity"] for v in violations} == {"critical"}


async def test_an_ack_for_a_command_the_hub_never_sent_opens_a_violation(
    community: Community,
) -> None:
    hub = community.hub
    ack = make_message(
        Kind.COMMAND_ACK,
        site=SITE,
        device=NORTH,
        payload={"command_id": "attacker-command-0001", "result": "done"},
    )
    community.attacker.send(ack).wait_for_publish(5)
    assert hub.store

    async def opened() -> bool:
        assert hub.store
        return bool(await hub.store.violations(type="unsolicited_ack", site=SITE))

    await until(opened)
    (violation,) = await hub.store.violations(type="unsolicited_ack", site=SITE)
    assert "attacker-command-0001" in violation["detail"]
    assert violation["evidence"] == [ack.id]
    assert (await hub.counts())["unmatched_acks"] == 1


async def test_a_forged_list_with_a_huge_version_is_ignored_and_does_not_freeze_the_edge(
    community: Community,
) -> None:
    hub, agent = community.hub, community.agent
    await until(lambda: _true(agent.lists.version >= 1))  # the hub's retained list arrived
    genuine = agent.lists.version
    sync = str(topics.sync(SITE, "vehicles"))
    huge = {"version": 2**62, "residents": [], "blacklist": [{"plate": "浙HA1234"}]}
    for payload in (
        make_message(Kind.VEHICLE_LIST, site=SITE, device=HUB_DEVICE, payload=huge).to_json(),
        sign_message(
            make_message(Kind.VEHICLE_LIST, site=SITE, device=HUB_DEVICE, payload=huge),
            generate_key(),
        ).to_json(),
    ):
        community.attacker.publish(sync, payload).wait_for_publish(5)

    async def two_alarms() -> bool:
        return len(await community.refusal_alarms()) >= 2

    await until(two_alarms)
    assert agent.lists.version == genuine
    assert "浙HA1234" not in agent.lists.blacklist
    # the hub's next list still replaces the cache
    now = utcnow()
    visitor = ListedPass(
        id="pass-1", plate="京A12345", valid_from=now, valid_until=now + timedelta(hours=2)
    )
    version = await hub.publish_vehicle_list(SITE, extra_passes=[visitor])
    assert version > genuine
    await until(lambda: _true(agent.lists.version == version))


async def test_forged_car_park_snapshots_are_ignored(community: Community) -> None:
    hub, attacker, capacity = community.hub, community.attacker, community.capacity
    full = {"zones": [], "free": 0, "occupied": 60, "visitor_free": 0}

    def snapshot(device: str, ts: datetime | None = None) -> Any:
        envelope = {"ts": ts} if ts else {}
        return make_message(
            Kind.CARPARK_SNAPSHOT, site=SITE, device=device, payload=full, **envelope
        )

    # the pedestrian edge says the car park is full, dated 2099 and dated now
    for message in (snapshot(EAST, datetime(2099, 1, 1, tzinfo=UTC)), snapshot(EAST)):
        attacker.publish(str(topics.state(SITE, EAST, "carpark_snapshot")), message.to_json())
    # and one straight on the relay topic, unsigned
    attacker.publish(str(topics.sync(SITE, "carpark")), snapshot(HUB_DEVICE).to_json())

    async def rejected() -> bool:
        return (await hub.counts()).get("rejected", 0) >= 2

    await until(rejected)

    async def alarmed() -> bool:
        return len(await community.refusal_alarms()) >= 1

    await until(alarmed)
    await asyncio.sleep(0.5)
    assert capacity.snapshot is None, "a forged snapshot reached the gate's capacity check"
    assert hub.store
    reasons = [r["reason"] for r in await hub.store.rejected()]
    assert any("not a car_park edge" in r for r in reasons), reasons

    # The car-park edge's own snapshot (dated by its clock, say 1 min fast) is relayed,
    # signed, and dated by the hub.
    genuine = snapshot(CARPARK, utcnow() + timedelta(minutes=1))
    attacker.publish(str(topics.state(SITE, CARPARK, "carpark_snapshot")), genuine.to_json())
    await until(lambda: _true(capacity.snapshot is not None))
    assert capacity.at is not None and capacity.at <= utcnow()


async def test_device_dates_from_2099_and_1970_are_rejected_with_their_reason(
    community: Community,
) -> None:
    hub, attacker = community.hub, community.attacker
    alarm = make_message(
        Kind.ALARM,
        site=SITE,
        device=NORTH,
        payload={"type": "door_forced", "gate": GATE, "severity": "critical"},
        ts=datetime(2099, 1, 1, tzinfo=UTC),
    )
    old = make_message(
        Kind.HEARTBEAT,
        site=SITE,
        device=NORTH,
        payload={"uptime_s": 1.0, "outbox_pending": 0},
        ts=datetime(1970, 1, 1, tzinfo=UTC),
    )
    attacker.send(alarm).wait_for_publish(5)
    attacker.send(old).wait_for_publish(5)

    async def both() -> bool:
        return (await hub.counts()).get("rejected", 0) >= 2

    await until(both)
    assert hub.store
    reasons = [r["reason"] for r in await hub.store.rejected()]
    assert any("ahead of the hub's clock" in r and "2099" in r for r in reasons), reasons
    assert any("behind the hub's clock" in r and "1970" in r for r in reasons), reasons
    codes = {r["reason"] for r in await hub.store.reject_counts([SITE])}
    assert codes == {"clock_skew"}
    assert await hub.store.violations(type="door_forced") == []


async def test_evidence_naming_another_communitys_event_is_dropped(
    community: Community,
) -> None:
    hub, attacker = community.hub, community.attacker
    theirs = make_message(
        Kind.PLATE_READ,
        site=OTHER,
        device=NORTH,
        payload={"gate": GATE, "plate": "浙HA1234", "color": "blue", "confidence": 0.9,
                 "frames": 3},
    )  # fmt: skip
    attacker.send(theirs).wait_for_publish(5)

    async def stored() -> bool:
        assert hub.store
        return bool(await hub.store.events(kind="plate_read", site=OTHER))

    await until(stored)
    alarm = make_message(
        Kind.ALARM,
        site=SITE,
        device=NORTH,
        payload={"type": "tailgating", "gate": GATE, "source_event": theirs.id},
    )
    attacker.send(alarm).wait_for_publish(5)

    async def opened() -> bool:
        assert hub.store
        return bool(await hub.store.violations(type="tailgating", site=SITE))

    await until(opened)
    assert hub.store
    (violation,) = await hub.store.violations(type="tailgating", site=SITE)
    assert violation["evidence"] == [alarm.id]
    assert (await hub.counts())["foreign_evidence"] == 1


async def _true(value: bool) -> bool:
    return value


async def test_hub_key_rotation_old_and_new_key_then_new_only(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    """docs/security.md, "Keys and rotation": the edge pins old and new key, the hub moves to
    the new key and is obeyed; once the edge pins only the new key, the old one is refused."""
    site = site_config(SITE)
    old = load_or_create_hub_key(tmp_path / "keys-old")
    hub = Hub([site], broker_url=mosquitto.url, data_dir=tmp_path / "hub",
              keys_dir=tmp_path / "keys-new")  # fmt: skip
    new = hub.signing_key
    await hub.start()
    sims, camera, relay, sensor = simulated_hardware(site, NORTH, seed=3)

    def agent(keys: list[Any]) -> EdgeAgent:
        return EdgeAgent(
            site, NORTH, broker_url=mosquitto.url, data_dir=tmp_path / "edge",
            camera_factory=camera, relay_factory=relay, sensor_factory=sensor,
            heartbeat_s=60, hub_keys=keys,
        )  # fmt: skip

    attacker = PahoClient(mosquitto.port)
    cmd_topic = str(topics.command(SITE, NORTH, "gate"))
    try:
        both = agent([old.public_key(), new.public_key()])
        await both.start()
        assert both.bus is not None and await both.bus.wait_connected(10)
        await asyncio.sleep(0.3)
        outcome = await hub.send_gate_command(
            SITE, NORTH, GATE, "open", reason="after the key change", operator="guard1"
        )
        assert outcome.ok, outcome
        # the old key still works during the change (a hub not yet restarted)
        attacker.publish(cmd_topic, sign_message(command(), old).to_json()).wait_for_publish(5)
        await until(lambda: _true(len(sims[GATE].relay.opens()) == 2))
        await both.stop()

        only_new = agent([new.public_key()])
        await only_new.start()
        assert only_new.bus is not None and await only_new.bus.wait_connected(10)
        await asyncio.sleep(0.3)
        attacker.publish(cmd_topic, sign_message(command(), old).to_json()).wait_for_publish(5)

        async def refused() -> bool:
            assert hub.store
            rows = await hub.store.events(kind="alarm", site=SITE)
            return any("not a pinned hub key" in json.loads(r["payload"])["detail"] for r in rows)

        await until(refused)
        assert len(sims[GATE].relay.opens()) == 2
        outcome = await hub.send_gate_command(
            SITE, NORTH, GATE, "open", reason="new key only now", operator="guard1"
        )
        assert outcome.ok, outcome
        await only_new.stop()
    finally:
        attacker.close()
        await hub.stop()
