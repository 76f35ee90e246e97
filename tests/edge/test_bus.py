"""The edge's MQTT bus against a real mosquitto: PUBACK-based delivery marking, queueing while
the broker is down, re-sending after a process restart, Last Will, commands in."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.bus import MqttBus
from edge.outbox import Outbox
from models import topics
from models.messages import (
    EnvelopeBase,
    GateAction,
    GateCommand,
    Heartbeat,
    Kind,
    make_message,
)
from models.site import PROJECT_ROOT
from tests.mosquitto import MosquittoBroker, durable_mosquitto
from transport import Credentials

FAST = {"reconnect_min_s": 1, "reconnect_max_s": 1, "keepalive": 5}


def unique_site() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


class Subscriber:
    """A plain paho client on the test broker, recording (topic, payload dict, retain)."""

    def __init__(
        self,
        port: int,
        *filters: str,
        auth: tuple[str, str] | None = None,
        session: str | None = None,
    ) -> None:
        """``session``: a client id for a persistent session (like the hub's), so that the
        broker queues what arrives while this subscriber is reconnecting after a restart."""
        self.messages: list[tuple[str, dict, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=session or "",
            clean_session=session is None,
        )
        if auth is not None:
            self.client.username_pw_set(*auth)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: self._subscribed.set()

        def on_connect(client, _u, _f, _r, _p) -> None:
            for f in filters:
                client.subscribe(f, qos=1)

        self.client.on_connect = on_connect
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(5)

    def _on_message(self, _c, _u, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, json.loads(msg.payload), bool(msg.retain)))

    def snapshot(self) -> list[tuple[str, dict, bool]]:
        with self._lock:
            return list(self.messages)

    def of_kind(self, kind: str) -> list[dict]:
        return [m for _t, m, _r in self.snapshot() if m["kind"] == kind]

    def wait_for(self, predicate: Callable[[Subscriber], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return predicate(self)

    async def await_for(self, predicate: Callable[[Subscriber], bool], timeout: float = 10) -> bool:
        return await asyncio.to_thread(self.wait_for, predicate, timeout)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def heartbeat(site: str, device: str, n: int) -> EnvelopeBase:
    return make_message(
        Kind.HEARTBEAT,
        site=site,
        device=device,
        payload=Heartbeat(uptime_s=n, outbox_pending=0),
    )


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


@pytest.fixture
def durable_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = durable_mosquitto(tmp_path)
    yield broker
    broker.stop()


async def test_row_is_marked_delivered_only_when_the_puback_arrives(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    site, device = unique_site(), "edge-a"
    topic = str(topics.event(site, device, "heartbeat"))
    sub = Subscriber(mosquitto.port, topic)
    outbox = Outbox(tmp_path / "outbox.db")
    bus = MqttBus(site, device, mosquitto.url, outbox, **FAST)
    await bus.start()
    assert await bus.wait_connected(5)
    assert mosquitto.proc is not None
    os.kill(mosquitto.proc.pid, signal.SIGSTOP)  # the broker takes the bytes but never answers
    try:
        await bus.publish(topic, heartbeat(site, device, 1))
        await asyncio.sleep(1.0)
        assert outbox.pending_count() == 1, "marked delivered without a PUBACK"
    finally:
        os.kill(mosquitto.proc.pid, signal.SIGCONT)
    assert await wait_until(lambda: outbox.pending_count() == 0, 5)
    assert await sub.await_for(lambda s: len(s.of_kind("heartbeat")) == 1)
    await bus.stop()
    sub.close()
    outbox.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_messages_queue_while_the_broker_is_down_and_arrive_in_order(
    durable_broker: MosquittoBroker, tmp_path: Path, protocol: str
) -> None:
    mosquitto = durable_broker
    site, device = unique_site(), "edge-a"
    topic = str(topics.event(site, device, "heartbeat"))
    sub = Subscriber(mosquitto.port, topic, session=f"hub-{site}")
    outbox = Outbox(tmp_path / "outbox.db")
    url = f"{mosquitto.url}?protocol={protocol}"
    bus = MqttBus(site, device, url, outbox, window=7, **FAST)
    await bus.start()
    assert await bus.wait_connected(5)
    await bus.publish(topic, heartbeat(site, device, 0))
    assert await wait_until(lambda: outbox.pending_count() == 0, 5)

    mosquitto.stop()
    assert await wait_until(lambda: not bus.connected, 5)
    for n in range(1, 41):
        await bus.publish(topic, heartbeat(site, device, n))
    await asyncio.sleep(0.3)
    assert outbox.pending_count() == 40

    mosquitto.start()
    assert await sub.await_for(lambda s: len(s.of_kind("heartbeat")) >= 41, 15)
    uptimes = [m["payload"]["uptime_s"] for m in sub.of_kind("heartbeat")]
    assert uptimes == [float(n) for n in range(41)]  # none lost, none repeated, in order
    assert await wait_until(lambda: outbox.pending_count() == 0, 5)
    await bus.stop()
    sub.close()
    outbox.close()


async def test_undelivered_rows_are_sent_by_the_next_process(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    site, device = unique_site(), "edge-a"
    topic = str(topics.event(site, device, "heartbeat"))
    mosquitto.stop()
    outbox = Outbox(tmp_path / "outbox.db")
    bus = MqttBus(site, device, mosquitto.url, outbox, **FAST)
    await bus.start()
    sent = [heartbeat(site, device, n) for n in range(5)]
    for message in sent:
        await bus.publish(topic, message)
    await bus.stop()  # the first process ends with everything still on disk
    outbox.close()

    mosquitto.start()
    sub = Subscriber(mosquitto.port, topic)
    outbox = Outbox(tmp_path / "outbox.db")
    assert outbox.pending_count() == 5
    bus = MqttBus(site, device, mosquitto.url, outbox, **FAST)
    await bus.start()
    assert await sub.await_for(lambda s: len(s.of_kind("heartbeat")) >= 5)
    assert [m["id"] for m in sub.of_kind("heartbeat")] == [m.id for m in sent]
    assert await wait_until(lambda: outbox.pending_count() == 0, 5)
    await bus.stop()
    sub.close()
    outbox.close()


BUS_PROCESS = """
import asyncio, sys
from edge.bus import MqttBus
from edge.outbox import Outbox

async def main():
    bus = MqttBus(sys.argv[1], "edge-lwt", sys.argv[2], Outbox(sys.argv[3]))
    await bus.start()
    assert await bus.wait_connected(5)
    print("ready", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_last_will_marks_a_killed_edge_offline(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    site = unique_site()
    available = str(topics.available(site, "edge-lwt"))
    proc = subprocess.Popen(
        [sys.executable, "-c", BUS_PROCESS, site, mosquitto.url, str(tmp_path / "o.db")],
        stdout=subprocess.PIPE,
        cwd=PROJECT_ROOT,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        sub = Subscriber(mosquitto.port, available)
        assert sub.wait_for(lambda s: len(s.of_kind("device_status")) == 1, 5)
        assert sub.of_kind("device_status")[0]["payload"]["online"] is True
        joiner = Subscriber(mosquitto.port, available)  # subscribes after it was published
        assert joiner.wait_for(lambda s: len(s.snapshot()) == 1, 5)
        _topic, online, retained = joiner.snapshot()[0]
        assert online["payload"]["online"] is True and retained
        joiner.close()
        proc.kill()  # no DISCONNECT: the broker must publish the Last Will
        proc.wait(5)
        assert sub.wait_for(lambda s: len(s.of_kind("device_status")) == 2, 5)
        offline = sub.of_kind("device_status")[1]
        assert offline["payload"]["online"] is False
        assert offline["device"] == "edge-lwt"
        sub.close()
        late = Subscriber(mosquitto.port, available)  # and it is retained for later subscribers
        assert late.wait_for(lambda s: len(s.of_kind("device_status")) == 1, 5)
        assert late.of_kind("device_status")[0]["payload"]["online"] is False
        late.close()
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_graceful_stop_publishes_offline_and_commands_reach_handlers(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    site, device = unique_site(), "edge-a"
    sub = Subscriber(mosquitto.port, str(topics.available(site, device)))
    outbox = Outbox(tmp_path / "outbox.db")
    bus = MqttBus(site, device, mosquitto.url, outbox, **FAST)
    received: list[EnvelopeBase] = []

    async def on_command(message: EnvelopeBase) -> None:
        received.append(message)

    bus.on_command(on_command)
    await bus.start()
    assert await bus.wait_connected(5)
    await asyncio.sleep(0.2)  # let the subscription settle
    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    hub.connect("127.0.0.1", mosquitto.port)
    hub.loop_start()
    command = make_message(
        Kind.GATE_COMMAND,
        site=site,
        device="hub",
        payload=GateCommand(
            gate="g1",
            action=GateAction.OPEN,
            reason="delivery van",
            operator="guard-1",
            expires_at=datetime.now(UTC) + timedelta(seconds=30),
        ),
    )
    cmd_topic = str(topics.command(site, device, "gate"))
    hub.publish(cmd_topic, command.to_json(), qos=1).wait_for_publish(5)
    hub.publish(cmd_topic, b"not json", qos=1).wait_for_publish(5)
    assert await wait_until(lambda: len(received) == 1 and bus.rejected_messages == 1, 5)
    assert received[0].id == command.id
    hub.loop_stop()
    hub.disconnect()

    await bus.stop()
    assert await sub.await_for(lambda s: len(s.of_kind("device_status")) == 2, 5)
    statuses = [m["payload"] for m in sub.of_kind("device_status")]
    assert [s["online"] for s in statuses] == [True, False]
    assert statuses[1]["reason"] == "stopped"
    sub.close()
    outbox.close()


async def test_rows_in_flight_when_the_link_drops_are_resent_after_reconnect(
    durable_broker: MosquittoBroker, tmp_path: Path
) -> None:
    mosquitto = durable_broker
    site, device = unique_site(), "edge-a"
    topic = str(topics.event(site, device, "heartbeat"))
    sub = Subscriber(mosquitto.port, topic, session=f"hub-{site}")
    # A clean restart writes the hub's session to disk, so it survives the SIGKILL below.
    mosquitto.stop()
    mosquitto.start()
    assert await wait_until(sub.client.is_connected, 10)
    outbox = Outbox(tmp_path / "outbox.db")
    bus = MqttBus(site, device, mosquitto.url, outbox, **FAST)
    await bus.start()
    assert await bus.wait_connected(5)
    assert mosquitto.proc is not None
    os.kill(mosquitto.proc.pid, signal.SIGSTOP)
    sent = [heartbeat(site, device, n) for n in range(3)]
    for message in sent:
        await bus.publish(topic, message)
    await asyncio.sleep(0.5)  # handed to paho, sent on the socket, never acknowledged
    assert outbox.pending_count() == 3
    os.kill(mosquitto.proc.pid, signal.SIGKILL)  # the broker dies with them
    mosquitto.proc.wait(5)
    mosquitto.proc = None
    assert await wait_until(lambda: not bus.connected, 15)

    mosquitto.start()
    assert await sub.await_for(lambda s: len(s.of_kind("heartbeat")) >= 3, 15)
    assert [m["id"] for m in sub.of_kind("heartbeat")] == [m.id for m in sent]
    assert await wait_until(lambda: outbox.pending_count() == 0, 5)
    await bus.stop()
    sub.close()
    outbox.close()


def test_anju_edge_stops_cleanly_on_sigterm(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    """systemd's stop: the agent publishes "offline, stopped" itself (not the Last Will)."""
    available = str(topics.available("lakeside", "edge-east"))
    sub = Subscriber(mosquitto.port, available)
    env = {**os.environ, "ANJU_EDGE_EAST_PASSWORD": "unused-by-an-anonymous-broker"}
    cli = [sys.executable, "-m", "anju_cli.main", "edge", "--device", "edge-east"]
    proc = subprocess.Popen(
        [*cli, "--simulate", "--broker", mosquitto.url, "--data", str(tmp_path)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert sub.wait_for(lambda s: len(s.of_kind("device_status")) == 1, 20)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.stderr.read().decode() if proc.stderr else ""
        assert sub.wait_for(lambda s: len(s.of_kind("device_status")) == 2, 5)
        statuses = [m["payload"] for m in sub.of_kind("device_status")]
        assert statuses[1] == {"online": False, "reason": "stopped"}
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.close()


async def test_mqtt5_sees_a_publish_the_broker_acl_refuses(tmp_path: Path) -> None:
    """With MQTT 3.1.1 a publish denied by the ACL is still PUBACKed (it would count as
    delivered). With ``?protocol=5`` the PUBACK says "Not authorized": the row is settled as
    refused, counted, kept for diagnosis, and the rows after it still go out in order."""
    passwd = tmp_path / "passwd"
    passwd.touch()
    for user, password in {"anju-hub": "hub-secret", "edge-north@lakeside": "north-secret"}.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    acl = PROJECT_ROOT / "config" / "mosquitto" / "anju.acl"
    workdir = tmp_path / "broker"
    workdir.mkdir()
    broker = MosquittoBroker(
        workdir, extra_config=f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}"
    )
    broker.start()
    try:
        site = "lakeside"  # the sample ACL's site (a private broker: no other test sees it)
        hub = Subscriber(broker.port, f"anju/{site}/+/events/#", auth=("anju-hub", "hub-secret"))
        outbox = Outbox(tmp_path / "outbox.db")
        bus = MqttBus(
            site,
            "edge-north",
            f"{broker.url}?protocol=5",
            outbox,
            credentials=Credentials("edge-north@lakeside", "north-secret"),
            **FAST,
        )
        await bus.start()
        assert await bus.wait_connected(5)
        own = str(topics.event(site, "edge-north", "heartbeat"))
        forged = str(topics.event(site, "edge-south", "heartbeat"))
        await bus.publish(own, heartbeat(site, "edge-north", 1))
        await bus.publish(forged, heartbeat(site, "edge-north", 2))
        await bus.publish(own, heartbeat(site, "edge-north", 3))
        assert await wait_until(lambda: outbox.pending_count() == 0, 5)
        await bus.stop()
        stats = outbox.stats()
        assert (stats.delivered, stats.refused) == (2, 1)
        ((_seq, topic, reason),) = outbox.refused()
        assert topic == forged and reason == "Not authorized"
        assert bus.refused_messages == 1
        assert hub.wait_for(lambda s: len(s.of_kind("heartbeat")) == 2, 5)
        assert [m["payload"]["uptime_s"] for m in hub.of_kind("heartbeat")] == [1.0, 3.0]
        hub.close()
        outbox.close()
    finally:
        broker.stop()
