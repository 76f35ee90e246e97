"""The hub against a real mosquitto: bursts with malformed messages, duplicates, LWT, gate
commands with acks and timeouts, restarts with a persistent session, vehicle lists."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from hub.service import CommandError, CommandStatus, Hub
from models.messages import (
    MESSAGE_TYPES,
    AckResult,
    GateCommand,
    Kind,
    ListedPass,
    VehicleList,
    make_message,
    parse_message,
)
from models.site import PROJECT_ROOT, SiteConfig, Vehicles
from tests.mosquitto import MosquittoBroker
from tests.support import (
    EAST,
    NORTH,
    NORTH_GATE,
    SITE,
    PahoClient,
    decision,
    heartbeat,
    lakeside,
    plate_read,
    status,
    topic_for,
)
from transport import Credentials

pytestmark = pytest.mark.e2e


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


async def counts_reach(hub: Hub, timeout: float = 10.0, **wanted: int) -> dict[str, int]:
    async def check() -> bool:
        counts = await hub.counts()
        return all(counts.get(k, 0) >= v for k, v in wanted.items())

    try:
        await until(check, timeout)
    except AssertionError:
        raise AssertionError(f"wanted {wanted}, have {await hub.counts()}") from None
    return await hub.counts()


def make_hub(
    broker: MosquittoBroker,
    data_dir: Path,
    site: SiteConfig | None = None,
    db: str | None = None,
) -> Hub:
    return Hub([site or lakeside()], broker_url=broker.url, data_dir=data_dir, db=db)


@pytest.fixture
async def hub(mosquitto: MosquittoBroker, tmp_path: Path, db_url) -> AsyncIterator[Hub]:
    """The hub on each engine (SQLite; PostgreSQL in a database of its own)."""
    hub = make_hub(mosquitto, tmp_path / "hub", db=db_url)
    await hub.start()
    yield hub
    await hub.stop()


@pytest.fixture
def edge(mosquitto: MosquittoBroker):
    client = PahoClient(mosquitto.port)
    yield client
    client.close()


async def published(*infos: mqtt.MQTTMessageInfo) -> None:
    def wait() -> None:
        for info in infos:
            info.wait_for_publish(10)

    await asyncio.to_thread(wait)


def malformed(i: int) -> tuple[str, bytes]:
    """Ten kinds of bad input, each with a different reason."""
    hb_topic = f"anju/{SITE}/{NORTH}/events/heartbeat"
    good = json.loads(heartbeat().to_json())
    match i % 10:
        case 0:
            return hb_topic, b"\x00\xffnot json at all"
        case 1:
            return hb_topic, b'{"kind": "teleport", "payload": {}}'
        case 2:
            return hb_topic, json.dumps({**good, "payload": {"uptime_s": "soon"}}).encode()
        case 3:
            return hb_topic, heartbeat(device=EAST).to_json()  # speaks for another device
        case 4:
            return f"anju/{SITE}/{NORTH}/events/plate_read", heartbeat().to_json()
        case 5:
            return hb_topic, b"[" + b"0," * 140_000 + b"0]"  # oversize
        case 6:
            return f"anju/{SITE}/edge-ghost/events/heartbeat", heartbeat("edge-ghost").to_json()
        case 7:
            return hb_topic, json.dumps({**good, "schema": 9}).encode()
        case 8:
            return f"anju/{SITE}/{NORTH}/state/heartbeat", heartbeat().to_json()
        case _:
            return hb_topic, b""


async def test_burst_with_malformed_messages(hub: Hub, edge: PahoClient) -> None:
    good_ids: list[str] = []
    infos = []
    for i in range(500):
        msg = plate_read() if i % 2 else heartbeat()
        good_ids.append(msg.id)
        infos.append(edge.send(msg))
        if i % 10 == 9:
            infos.append(edge.publish(*malformed(i // 10)))
    await published(*infos)
    counts = await counts_reach(hub, events=500, rejected=50)
    assert counts["events"] == 500 and counts["rejected"] == 50
    assert counts["duplicates"] == 0
    stored = {row["id"] for row in await hub.store.events(limit=1000)}
    assert stored == set(good_ids)
    reasons = {row["reason"].split(":")[0] for row in await hub.store.rejected(limit=100)}
    assert len(reasons) >= 6, reasons  # distinct causes are kept apart
    assert all(row["reason"] for row in await hub.store.rejected(limit=100))
    # still running: the next good message is stored
    await published(edge.send(heartbeat()))
    assert (await counts_reach(hub, events=501))["events"] == 501
    assert hub.connected


async def test_duplicates_are_stored_once(hub: Hub, edge: PahoClient) -> None:
    refused = decision("浙HX9999", "refuse", "blacklisted")
    await published(*(edge.send(refused) for _ in range(3)))
    counts = await counts_reach(hub, events=1, duplicates=2)
    assert counts["events"] == 1 and counts["violations"] == 1


async def test_gate_opens_and_violations_in_counts(hub: Hub, edge: PahoClient) -> None:
    await published(
        edge.send(decision("浙HA1234", "open", "resident")),
        edge.send(decision("浙HX9999", "refuse", "blacklisted")),
        edge.send(decision("浙HZ0001", "refuse", "unknown")),
    )
    counts = await counts_reach(hub, events=3)
    assert (counts["gate_opens"], counts["violations"]) == (1, 2)
    types = {v["type"] for v in await hub.store.violations()}
    assert types == {"blacklisted_vehicle", "unknown_vehicle"}


async def test_lwt_offline_opens_and_reconnect_resolves(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    hub = make_hub(mosquitto, tmp_path / "hub", lakeside(device_offline_after_s=1.5))
    await hub.start()
    try:
        dying = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge-north-conn")
        lwt = status(False, reason="connection lost")
        dying.will_set(topic_for(lwt), lwt.to_json(), qos=1, retain=True)
        dying.connect("127.0.0.1", mosquitto.port, keepalive=5)
        dying.loop_start()
        await published(dying.publish(topic_for(hb := heartbeat()), hb.to_json(), qos=1))
        await counts_reach(hub, events=1)
        # a cut cable: no DISCONNECT, so the broker publishes the will
        dying.socket().shutdown(socket.SHUT_RDWR)
        dying.loop_stop()

        async def north_offline(status: str) -> list[dict]:
            rows = await hub.store.violations(type="device_offline", status=status)
            return [v for v in rows if v["device"] == NORTH]

        async def opened() -> bool:
            return bool(await north_offline("open"))

        await until(opened, 10)
        [v] = await north_offline("open")
        assert lwt.id in {e["id"] for e in await hub.store.events(kind="device_status")}
        assert "reported offline" in v["detail"] and v["category"] == "service"
        [dev] = [d for d in await hub.store.devices() if d["device"] == NORTH]
        assert dev["online"] == 0

        back = PahoClient(mosquitto.port)
        await published(back.send(status(True, reason="connected"), retain=True))
        back.close()

        async def resolved() -> bool:
            return bool(await north_offline("resolved"))

        await until(resolved, 10)
        assert await north_offline("open") == []
    finally:
        await hub.stop()


class FakeEdge(PahoClient):
    """Answers every gate command for its device, like edge/agent.py does."""

    def __init__(
        self, port: int, device: str = NORTH, result: str = "done", **credentials: str
    ) -> None:
        super().__init__(port, **credentials)
        self.device, self.result = device, result
        self.commands: list = []
        self.on_message = self._answer
        self.subscribe(f"anju/{SITE}/{device}/cmd/+")
        time.sleep(0.1)  # let the SUBACK arrive before commands are sent

    def _answer(self, _self: PahoClient, msg: mqtt.MQTTMessage) -> None:
        command = parse_message(msg.payload)
        if command.kind != Kind.GATE_COMMAND:
            return
        self.commands.append(command)
        ack = make_message(
            Kind.COMMAND_ACK,
            site=SITE,
            device=self.device,
            payload={"command_id": command.id, "result": self.result},
        )
        self.send(ack)


async def test_gate_command_acknowledged(hub: Hub, mosquitto: MosquittoBroker) -> None:
    fake = await asyncio.to_thread(FakeEdge, mosquitto.port)
    try:
        outcome = await hub.send_gate_command(
            SITE,
            NORTH,
            NORTH_GATE,
            "open",
            reason="visitor without pass, resident called",
            operator="guard-li",
            timeout_s=5,
        )
    finally:
        fake.close()
    assert outcome.status is CommandStatus.ACKNOWLEDGED
    assert outcome.result is AckResult.DONE and outcome.ok
    [sent] = fake.commands
    assert type(sent) is MESSAGE_TYPES[Kind.GATE_COMMAND]
    assert sent.id == outcome.command_id
    payload: GateCommand = sent.payload
    assert (payload.gate, payload.action, payload.operator) == (NORTH_GATE, "open", "guard-li")
    assert payload.expires_at > outcome.sent_at
    row = await hub.store.command(outcome.command_id)
    assert (row["status"], row["ack_result"]) == ("acknowledged", "done")
    assert row["acked_at"] is not None
    audit = await hub.store.audit_log(target_prefix=f"gate/{SITE}/{NORTH_GATE}")
    assert [a["action"] for a in audit] == ["gate_command.sent", "gate_command.acknowledged"]
    assert audit[0]["actor"] == "guard-li" and audit[1]["actor"] == f"{SITE}/{NORTH}"
    assert (await hub.counts())["commands"] == 1


async def test_gate_command_refused_by_the_edge(hub: Hub, mosquitto: MosquittoBroker) -> None:
    fake = await asyncio.to_thread(FakeEdge, mosquitto.port, NORTH, "rejected")
    try:
        outcome = await hub.send_gate_command(
            SITE, NORTH, NORTH_GATE, "close", "clear the lane", "guard-li", timeout_s=5
        )
    finally:
        fake.close()
    assert outcome.status is CommandStatus.ACKNOWLEDGED
    assert outcome.result is AckResult.REJECTED and not outcome.ok


async def test_gate_command_without_ack_times_out(hub: Hub) -> None:
    started = time.monotonic()
    outcome = await hub.send_gate_command(
        SITE, NORTH, NORTH_GATE, "open", "nobody listens", "guard-li", timeout_s=0.5
    )
    assert 0.5 <= time.monotonic() - started < 3
    assert outcome.status is CommandStatus.TIMEOUT and not outcome.ok
    row = await hub.store.command(outcome.command_id)
    assert row["status"] == "timeout" and row["acked_at"] is None
    actions = [a["action"] for a in await hub.store.audit_log(target_prefix="gate/")]
    assert actions == ["gate_command.sent", "gate_command.timeout"]


async def test_gate_command_fails_without_the_broker(hub: Hub, mosquitto: MosquittoBroker) -> None:
    mosquitto.stop()
    await until(lambda: asyncio.sleep(0, not hub.connected), 10)
    outcome = await hub.send_gate_command(
        SITE, NORTH, NORTH_GATE, "open", "broker is down", "guard-li", timeout_s=5
    )
    assert outcome.status is CommandStatus.FAILED and "not connected" in outcome.detail
    row = await hub.store.command(outcome.command_id)
    assert row["status"] == "failed"
    actions = [a["action"] for a in await hub.store.audit_log(target_prefix="gate/")]
    assert actions == ["gate_command.failed"]


async def test_gate_command_checks_its_target(hub: Hub) -> None:
    with pytest.raises(CommandError, match="not controlled by"):
        await hub.send_gate_command(SITE, NORTH, "south-vehicle", "open", "reason", "op")
    with pytest.raises(CommandError, match="no device"):
        await hub.send_gate_command(SITE, "edge-ghost", NORTH_GATE, "open", "reason", "op")
    with pytest.raises(CommandError, match="unknown site"):
        await hub.send_gate_command("hillside", NORTH, NORTH_GATE, "open", "reason", "op")
    with pytest.raises(CommandError, match="reason"):
        await hub.send_gate_command(SITE, NORTH, NORTH_GATE, "open", "", "op")
    assert (await hub.counts())["commands"] == 0


async def test_restart_receives_what_was_published_while_down(
    mosquitto: MosquittoBroker, tmp_path: Path, edge: PahoClient
) -> None:
    first = make_hub(mosquitto, tmp_path / "hub")
    await first.start()
    await published(edge.send(heartbeat()))
    await counts_reach(first, events=1)
    await first.stop()

    while_down = [plate_read() for _ in range(50)]
    await published(*(edge.send(m) for m in while_down))

    second = make_hub(mosquitto, tmp_path / "hub")
    await second.start()
    try:
        counts = await counts_reach(second, events=51)
        assert counts["events"] == 51
        stored = {row["id"] for row in await second.store.events(limit=100)}
        assert {m.id for m in while_down} <= stored
    finally:
        await second.stop()


async def test_ingestion_survives_a_broker_restart(hub: Hub, mosquitto: MosquittoBroker) -> None:
    mosquitto.stop()
    await until(lambda: asyncio.sleep(0, not hub.connected), 10)
    mosquitto.start()
    await until(lambda: asyncio.sleep(0, hub.connected), 15)
    await asyncio.sleep(0.2)  # the re-subscription is sent right after the CONNACK
    client = PahoClient(mosquitto.port)
    try:
        await published(client.send(heartbeat()))
        await counts_reach(hub, events=1)
    finally:
        client.close()


async def test_vehicle_list_is_retained_and_versioned(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    async def retained_list() -> VehicleList:
        client = PahoClient(mosquitto.port)
        try:
            client.subscribe(f"anju/{SITE}/sync/vehicles")
            [msg] = await asyncio.to_thread(client.wait_for, 1)
        finally:
            client.close()
        assert msg.retain
        return parse_message(msg.payload).payload

    site = lakeside()
    hub = make_hub(mosquitto, tmp_path / "hub", site)
    await hub.start()
    await hub.stop()
    first = await retained_list()
    assert first.version == 1
    assert {v.plate for v in first.blacklist} == {"浙HX9999", "苏E4Z321"}
    assert len(first.residents) == 8 and len(first.visitor_passes) == 2
    assert all("张伟" not in v.note for v in first.residents)  # unit only, no names

    hub = make_hub(mosquitto, tmp_path / "hub", site)  # same lists: same version
    await hub.start()
    await hub.stop()
    assert (await retained_list()).version == 1

    vehicles = site.vehicles.model_dump()
    vehicles["blacklist"].append({"plate": "浙HQ7777", "reason": "test"})
    changed = site.model_copy(update={"vehicles": Vehicles.model_validate(vehicles)})
    hub = make_hub(mosquitto, tmp_path / "hub", changed)
    await hub.start()
    audit = await hub.store.audit_log(target_prefix=f"sync/{SITE}/vehicles")
    await hub.stop()
    latest = await retained_list()
    assert latest.version == 2 and "浙HQ7777" in {v.plate for v in latest.blacklist}
    assert [a["after"]["version"] for a in audit] == [1, 2]


async def test_vehicle_list_republished_with_extra_passes(
    hub: Hub, mosquitto: MosquittoBroker
) -> None:
    now = datetime.now(UTC)
    extra = ListedPass(
        id="C1A2B3C4", plate="浙HP6060", valid_from=now, valid_until=now + timedelta(hours=2)
    )
    assert await hub.publish_vehicle_list(SITE, extra_passes=[extra]) == 2
    assert await hub.publish_vehicle_list(SITE, extra_passes=[extra]) == 2  # unchanged
    client = PahoClient(mosquitto.port)
    try:
        client.subscribe(f"anju/{SITE}/sync/vehicles")
        [msg] = await asyncio.to_thread(client.wait_for, 1)
    finally:
        client.close()
    lists: VehicleList = parse_message(msg.payload).payload
    assert lists.version == 2
    assert "C1A2B3C4" in {p.id for p in lists.visitor_passes}
    with pytest.raises(ValueError, match="unknown site"):
        await hub.publish_vehicle_list("hillside")


async def test_start_fails_clearly_without_a_broker(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hub = Hub([lakeside()], broker_url=f"mqtt://127.0.0.1:{port}", data_dir=tmp_path / "hub")
    with pytest.raises(ConnectionError, match="no connection to the broker"):
        await hub.start(connect_timeout_s=0.5)


ACL = PROJECT_ROOT / "config" / "mosquitto" / "anju.acl"


@pytest.fixture
def secured(tmp_path: Path):
    """mosquitto with the production policy: passwords and config/mosquitto/anju.acl."""
    passwd = tmp_path / "passwd"
    passwd.touch()
    for user, password in {"anju-hub": "hub-secret", f"{NORTH}@{SITE}": "north-secret"}.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    broker_dir = tmp_path / "secured"
    broker_dir.mkdir()
    broker = MosquittoBroker(
        broker_dir, extra_config=f"allow_anonymous false\npassword_file {passwd}\nacl_file {ACL}"
    )
    broker.start()
    yield broker
    broker.stop()


async def test_hub_under_the_production_acl(secured: MosquittoBroker, tmp_path: Path) -> None:
    hub = Hub(
        [lakeside()],
        broker_url=secured.url,
        data_dir=tmp_path / "hub",
        credentials=Credentials("anju-hub", "hub-secret"),
    )
    await hub.start()
    edge_login = {"username": f"{NORTH}@{SITE}", "password": "north-secret"}
    fake = await asyncio.to_thread(FakeEdge, secured.port, NORTH, "done", **edge_login)
    try:
        # the hub may write sync lists and commands; the edge may read them and write events
        fake.subscribe(f"anju/{SITE}/sync/vehicles")
        got = await asyncio.to_thread(fake.wait_for, 1)
        assert parse_message(got[0].payload).kind == "vehicle_list"
        await published(fake.send(decision("浙HX9999", "refuse", "blacklisted")))
        await counts_reach(hub, events=1, violations=1)
        outcome = await hub.send_gate_command(
            SITE, NORTH, NORTH_GATE, "open", "acl check", "guard-li", timeout_s=5
        )
        assert outcome.ok
    finally:
        fake.close()
        await hub.stop()


async def test_wrong_hub_password_fails_to_start(secured: MosquittoBroker, tmp_path: Path) -> None:
    hub = Hub(
        [lakeside()],
        broker_url=secured.url,
        data_dir=tmp_path / "hub",
        credentials=Credentials("anju-hub", "wrong"),
    )
    with pytest.raises(ConnectionError):
        await hub.start(connect_timeout_s=1)


async def test_messages_are_acknowledged_only_after_commit(
    mosquitto: MosquittoBroker, tmp_path: Path, edge: PahoClient
) -> None:
    """A hub that dies between receiving and committing loses nothing: the broker still
    holds the unacknowledged messages and delivers them to the next hub session."""
    crashed = make_hub(mosquitto, tmp_path / "crashed")
    await crashed.start()
    sent = [heartbeat() for _ in range(20)]
    async with crashed.store.transaction():  # hold the writer: nothing can commit
        await published(*(edge.send(m) for m in sent))
        await until(lambda: asyncio.sleep(0, crashed._ingest.received >= 20), 10)
        # the process "dies": the connection drops without DISCONNECT and without PUBACKs
        paho = crashed.mqtt._client
        paho.socket().shutdown(socket.SHUT_RDWR)
        await asyncio.to_thread(paho.loop_stop)
    await crashed.stop()

    fresh = make_hub(mosquitto, tmp_path / "fresh")  # same client id, empty database
    await fresh.start()
    try:
        counts = await counts_reach(fresh, events=20)
        assert counts["events"] == 20
        assert {r["id"] for r in await fresh.store.events()} == {m.id for m in sent}
    finally:
        await fresh.stop()
