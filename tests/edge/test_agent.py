"""The edge agent end to end on a real mosquitto, real SQLite and real pixels: a simulated car
at a simulated gate is read by the plate reader, the barrier opens, the events reach a plain
MQTT subscriber; with the broker down the gate still decides and the events arrive later."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from edge.agent import EdgeAgent, run_edge
from edge.drivers.presence import AlwaysPresent
from models import topics
from models.messages import (
    GateAction,
    GateCommand,
    Kind,
    ListedVehicle,
    SlotState,
    VehicleList,
    make_message,
)
from models.signing import generate_key, sign_message
from models.site import EXAMPLE_SITE, PROJECT_ROOT, ConfigError, SiteConfig, load_yaml
from recognition.lpr import PlateReader
from simulators.gate import SimulatedVehicleGate
from simulators.hardware import simulated_factories
from tests.edge.test_bus import FAST, Subscriber, unique_site, wait_until
from tests.mosquitto import MosquittoBroker

EDGE, GATE = "edge-north", "north-vehicle"
HUB_KEY = generate_key()  # the hub key the test edges pin


def signed(message):
    return sign_message(message, HUB_KEY)


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


def site_config(site_id: str, *, open_seconds: float = 1.0) -> SiteConfig:
    """The example community under a unique id, the north edge without broker credentials."""
    data = load_yaml(EXAMPLE_SITE)
    data["site"]["id"] = site_id
    for edge in data["edges"]:
        edge.pop("credentials", None)
    for gate in data["gates"]:
        gate["open_seconds"] = open_seconds
        gate["camera"]["fps"] = 10
    return SiteConfig.model_validate(data)


class Rig:
    """One edge agent on one simulated gate."""

    def __init__(
        self, site: SiteConfig, broker: MosquittoBroker, data_dir: Path, reader: PlateReader
    ) -> None:
        # A refused driver waits 6 s: time for a decision even on a loaded machine.
        self.gate = SimulatedVehicleGate(GATE, drive_through_s=0.4, give_up_s=6.0)
        self.agent = EdgeAgent(
            site,
            EDGE,
            broker_url=broker.url,
            data_dir=data_dir,
            camera_factory=lambda g: self.gate.camera,
            relay_factory=lambda g: self.gate.relay,
            sensor_factory=lambda g: self.gate.sensor,
            reader=reader,
            heartbeat_s=0.5,
            bus_options=FAST,
            hub_keys=[HUB_KEY.public_key()],
        )

    async def __aenter__(self) -> Rig:
        await self.agent.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.agent.stop()


def events(sub: Subscriber, kind: str) -> list[dict]:
    return [m for m in sub.of_kind(kind) if m["device"] == EDGE]


async def test_a_resident_is_read_from_pixels_and_let_in(
    mosquitto: MosquittoBroker, tmp_path: Path, reader: PlateReader
) -> None:
    site_id = unique_site()
    sub = Subscriber(mosquitto.port, f"anju/{site_id}/#")
    async with Rig(site_config(site_id), mosquitto, tmp_path, reader) as rig:
        assert await rig.agent.bus.wait_connected(5)
        rig.gate.arrive("浙HA1234")  # resident in the example site's lists
        assert await wait_until(lambda: rig.gate.relay.opens(), 10), "barrier never opened"
        assert await sub.await_for(lambda s: len(events(s, "gate_decision")) == 1)
        read, decision = events(sub, "plate_read")[0], events(sub, "gate_decision")[0]
        assert read["payload"]["plate"] == "浙HA1234"
        assert read["payload"]["color"] == "blue"
        assert read["payload"]["frames"] >= 1  # one sure read is enough (PlateVoter)
        crop = cv2.imdecode(
            np.frombuffer(base64.b64decode(read["payload"]["crop_jpeg_b64"]), np.uint8),
            cv2.IMREAD_COLOR,
        )
        assert crop is not None and crop.shape[0] > 10 and crop.shape[1] > crop.shape[0]
        assert decision["payload"] == {
            "gate": GATE,
            "credential": "plate",
            "subject": "浙HA1234",
            "decision": "open",
            "reason": "resident",
            "list_version": 0,
            "source_event": read["id"],
        }
        # The car drives through; the barrier closes after open_seconds; states are retained.
        assert await sub.await_for(
            lambda s: (
                [m["payload"]["position"] for m in events(s, "gate_state")]
                == ["closed", "open", "closed"]
            ),
            10,
        )
        late = Subscriber(mosquitto.port, str(topics.state(site_id, EDGE, "gate_state")))
        assert late.wait_for(lambda s: len(s.snapshot()) == 1, 5)
        _topic, last_state, retained = late.snapshot()[0]
        assert retained and last_state["payload"]["position"] == "closed"
        late.close()
        assert [e.action for e in rig.gate.relay.events] == ["open", "close"]

        rig.gate.arrive("京A12345")  # nobody knows this car
        assert await sub.await_for(lambda s: len(events(s, "gate_decision")) == 2)
        refused = events(sub, "gate_decision")[1]["payload"]
        assert (refused["subject"], refused["decision"], refused["reason"]) == (
            "京A12345",
            "refuse",
            "unknown",
        )
        assert len(rig.gate.relay.opens()) == 1  # the barrier stayed down
        beats = events(sub, "heartbeat")
        assert beats and "outbox_pending" in beats[-1]["payload"]
    sub.close()


async def test_broker_down_the_gate_still_decides_and_events_arrive_later(
    durable_broker: MosquittoBroker, tmp_path: Path, reader: PlateReader
) -> None:
    mosquitto = durable_broker
    site_id = unique_site()
    # The hub's side: a persistent session, as the hub keeps one, so nothing is missed while
    # it reconnects after the broker restart.
    sub = Subscriber(mosquitto.port, f"anju/{site_id}/#", session=f"hub-{site_id}")
    async with Rig(site_config(site_id), mosquitto, tmp_path, reader) as rig:
        assert await rig.agent.bus.wait_connected(5)
        assert await wait_until(lambda: rig.agent.outbox.pending_count() == 0, 5)
        # What the hub got before the broker went down: if its PUBACK for one of these had
        # not reached the broker yet, the restarted broker delivers it again (QoS 1 is at
        # least once; the hub de-duplicates by id). The edge itself must not send twice.
        before = {m["id"] for t, m, _r in sub.snapshot() if "/events/" in t}
        mosquitto.stop()
        assert await wait_until(lambda: not rig.agent.bus.connected, 10)

        rig.gate.arrive("浙HD12345")  # resident, green new-energy plate
        assert await wait_until(lambda: rig.gate.relay.opens(), 10), "no local decision"
        assert await wait_until(lambda: not rig.gate.occupied, 5)
        assert await wait_until(lambda: rig.gate.relay.position == "closed", 5)
        rig.gate.arrive("浙HX9999")  # blacklisted
        assert await wait_until(lambda: len(rig.gate.history) == 2, 10)
        assert len(rig.gate.relay.opens()) == 1
        assert await rig.agent.bus.pending() >= 6  # 2 reads, 2 decisions, gate states

        mosquitto.start()
        assert await sub.await_for(lambda s: len(events(s, "gate_decision")) == 2, 15)
        assert await wait_until(lambda: rig.agent.outbox.pending_count() == 0, 10)
    decisions = [m["payload"] for m in events(sub, "gate_decision")]
    assert [(d["subject"], d["decision"], d["reason"]) for d in decisions] == [
        ("浙HD12345", "open", "resident"),
        ("浙HX9999", "refuse", "blacklisted"),
    ]
    reads = events(sub, "plate_read")
    assert [r["payload"]["plate"] for r in reads] == ["浙HD12345", "浙HX9999"]
    assert reads[0]["payload"]["color"] == "green"
    assert [d["source_event"] for d in decisions] == [r["id"] for r in reads]
    ids = [m["id"] for t, m, _r in sub.snapshot() if "/events/" in t and m["id"] not in before]
    assert len(ids) >= 6 and len(ids) == len(set(ids))  # the outbox sent each event once
    # Retained states are sent again to a re-subscribing client: compare distinct messages.
    states = {m["id"]: m["payload"]["position"] for m in events(sub, "gate_state")}
    assert list(states.values()) == ["closed", "open", "closed"]  # start-up state, then in order
    sub.close()


def gate_command(site: str, action: GateAction, *, gate: str = GATE, expires_in: float = 30):
    return signed(
        make_message(
            Kind.GATE_COMMAND,
            site=site,
            device=EDGE,
            payload=GateCommand(
                gate=gate,
                action=action,
                reason="delivery van at the gate",
                operator="guard-7",
                expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
            ),
        )
    )


async def test_remote_commands_open_once_and_expired_ones_do_nothing(
    mosquitto: MosquittoBroker, tmp_path: Path, reader: PlateReader
) -> None:
    site_id = unique_site()
    sub = Subscriber(mosquitto.port, f"anju/{site_id}/#")
    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    hub.connect("127.0.0.1", mosquitto.port)
    hub.loop_start()
    cmd_topic = str(topics.command(site_id, EDGE, "gate"))

    def send(message) -> None:
        hub.publish(cmd_topic, message.to_json(), qos=1).wait_for_publish(5)

    def acks(s: Subscriber) -> list[dict]:
        return [m["payload"] for m in events(s, "command_ack")]

    async with Rig(site_config(site_id, open_seconds=30), mosquitto, tmp_path, reader) as rig:
        assert await rig.agent.bus.wait_connected(5)
        await asyncio.sleep(0.3)  # subscriptions settle

        expired = gate_command(site_id, GateAction.OPEN, expires_in=-1)
        send(expired)
        assert await sub.await_for(lambda s: len(acks(s)) == 1)
        assert acks(sub)[0]["command_id"] == expired.id
        assert acks(sub)[0]["result"] == "expired"
        assert rig.gate.relay.events == []

        opening = gate_command(site_id, GateAction.OPEN)
        send(opening)
        send(opening)  # redelivered: must not act twice
        assert await sub.await_for(lambda s: len(acks(s)) == 2)
        assert acks(sub)[1] == {"command_id": opening.id, "result": "done", "detail": ""}
        assert [e.action for e in rig.gate.relay.events] == ["open"]
        remote = events(sub, "gate_decision")[0]["payload"]
        assert (remote["credential"], remote["reason"], remote["subject"]) == (
            "remote",
            "remote_command",
            "guard-7",
        )
        assert remote["source_event"] == opening.id

        send(gate_command(site_id, GateAction.OPEN, gate="south-vehicle"))  # not this edge's
        send(gate_command(site_id, GateAction.CLOSE))
        assert await sub.await_for(lambda s: len(acks(s)) == 4)
        assert [a["result"] for a in acks(sub)[2:]] == ["unknown_gate", "done"]
        assert [e.action for e in rig.gate.relay.events] == ["open", "close"]
        await asyncio.sleep(0.5)
        assert len(acks(sub)) == 4  # exactly one ack per command id
    hub.loop_stop()
    hub.disconnect()
    sub.close()


async def test_synced_lists_are_kept_on_disk_for_a_restart_without_broker(
    mosquitto: MosquittoBroker, tmp_path: Path, reader: PlateReader
) -> None:
    site_id = unique_site()
    site = site_config(site_id)
    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    hub.connect("127.0.0.1", mosquitto.port)
    hub.loop_start()
    lists = signed(
        make_message(
            Kind.VEHICLE_LIST,
            site=site_id,
            device="hub",
            payload=VehicleList(
                version=5,
                residents=[ListedVehicle(plate="京A12345")],
                blacklist=[ListedVehicle(plate="浙HA1234", note="moved out, banned")],
            ),
        )
    )
    sync = str(topics.sync(site_id, "vehicles"))
    hub.publish(sync, lists.to_json(), qos=1, retain=True).wait_for_publish(5)

    async with Rig(site, mosquitto, tmp_path, reader) as rig:
        assert await wait_until(lambda: rig.agent.lists.version == 5, 5)
        older = signed(
            make_message(
                Kind.VEHICLE_LIST,
                site=site_id,
                device="hub",
                payload=VehicleList(version=4),
                ts=lists.ts - timedelta(seconds=1),
            )
        )
        hub.publish(sync, older.to_json(), qos=1).wait_for_publish(5)
        await asyncio.sleep(0.5)
        assert rig.agent.lists.version == 5  # never go back to a list issued earlier
    hub.loop_stop()
    hub.disconnect()

    mosquitto.stop()
    async with Rig(site, mosquitto, tmp_path, reader) as rig:  # restart, no broker at all
        assert rig.agent.lists.version == 5

        def decisions() -> list[dict]:
            rows = rig.agent.outbox.pending(limit=1000)
            return [
                json.loads(r.payload)["payload"]
                for r in rows
                if r.topic.endswith("/events/gate_decision")
            ]

        rig.gate.arrive("浙HA1234")  # a resident in the site config, blacklisted by the hub
        assert await wait_until(lambda: len(decisions()) == 1, 10)
        rig.gate.depart()
        rig.gate.arrive("京A12345")  # unknown to the site config, resident for the hub
        assert await wait_until(lambda: rig.gate.relay.opens(), 10)
        assert await wait_until(lambda: len(decisions()) == 2, 5)
        assert rig.gate.history[0].opened_at is None
        assert [(d["subject"], d["reason"], d["list_version"]) for d in decisions()] == [
            ("浙HA1234", "blacklisted", 5),
            ("京A12345", "resident", 5),
        ]


async def test_an_unsure_read_is_refused_once_per_visit_and_the_barrier_stays_down(
    mosquitto: MosquittoBroker, tmp_path: Path, reader: PlateReader
) -> None:
    site_id = unique_site()
    data = site_config(site_id).model_dump(mode="json")
    data["gates"][0]["min_plate_confidence"] = 1.0  # no read is ever that sure
    sub = Subscriber(mosquitto.port, f"anju/{site_id}/+/events/+")
    async with Rig(SiteConfig.model_validate(data), mosquitto, tmp_path, reader) as rig:
        rig.gate.arrive("浙HA1234")
        assert await sub.await_for(lambda s: len(events(s, "gate_decision")) >= 1)
        frames_at_report = rig.agent.pipelines[GATE].frames_read
        assert await wait_until(lambda: len(rig.gate.history) == 1, 10)  # the driver gives up
        await asyncio.sleep(0.3)
        # It kept reading while the car was there (at least one more vote's worth of frames).
        assert rig.agent.pipelines[GATE].frames_read >= frames_at_report + 3
    decisions = [m["payload"] for m in events(sub, "gate_decision")]
    assert [(d["subject"], d["decision"], d["reason"]) for d in decisions] == [
        ("浙HA1234", "refuse", "low_confidence")
    ]
    assert rig.gate.relay.events == []
    sub.close()


@pytest.fixture
def secured_broker(tmp_path: Path):
    """mosquitto with the production password file + ACL (config/mosquitto/anju.acl)."""
    passwd = tmp_path / "passwd"
    passwd.touch()
    for user, password in {"anju-hub": "hub-secret", "edge-east@lakeside": "east-secret"}.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    workdir = tmp_path / "secured"
    workdir.mkdir()
    acl = PROJECT_ROOT / "config" / "mosquitto" / "anju.acl"
    broker = MosquittoBroker(
        workdir, extra_config=f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}"
    )
    broker.start()
    yield broker
    broker.stop()


async def test_run_edge_with_credentials_from_the_environment_under_the_production_acl(
    secured_broker: MosquittoBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``anju edge --simulate`` for the pedestrian edge of the example site (no face pipeline
    yet: its gate is driven by remote commands) against the production broker policy."""
    broker = secured_broker
    hub = Subscriber(broker.port, "anju/lakeside/#", auth=("anju-hub", "hub-secret"))

    monkeypatch.setenv("ANJU_EDGE_EAST_PASSWORD", "wrong")
    task = asyncio.create_task(
        run_edge(EXAMPLE_SITE, "edge-east", broker.url, tmp_path / "bad", simulated_factories)
    )
    await asyncio.sleep(1.5)
    assert hub.of_kind("device_status") == []  # refused: bad password
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    monkeypatch.setenv("ANJU_EDGE_EAST_PASSWORD", "east-secret")
    task = asyncio.create_task(
        run_edge(EXAMPLE_SITE, "edge-east", broker.url, tmp_path, simulated_factories)
    )
    try:
        assert await hub.await_for(lambda s: len(s.of_kind("device_status")) == 1, 10)
        assert hub.of_kind("device_status")[0]["payload"]["online"] is True
        # The ACL lets an edge write only its own branch: these arrive only if topics comply.
        assert await hub.await_for(lambda s: len(s.of_kind("gate_state")) == 1, 5)
        assert await hub.await_for(lambda s: len(s.of_kind("heartbeat")) == 1, 5)
        assert hub.of_kind("gate_state")[0]["payload"]["gate"] == "east-pedestrian"
        assert (tmp_path / "edge-east" / "outbox.db").exists()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert await hub.await_for(lambda s: len(s.of_kind("device_status")) == 2, 5)
    assert hub.of_kind("device_status")[1]["payload"]["online"] is False
    hub.close()


async def test_a_dead_camera_raises_a_gate_fault_alarm_while_idle(
    mosquitto: MosquittoBroker, tmp_path: Path, reader: PlateReader
) -> None:
    site_id = unique_site()
    sub = Subscriber(mosquitto.port, f"anju/{site_id}/+/events/alarm")
    rig = Rig(site_config(site_id), mosquitto, tmp_path, reader)
    rig.agent.pipeline_options = {"camera_check_s": 0.1, "camera_fault_after_s": 0.5}
    rig.gate.camera_fault = "dead"
    async with rig:
        assert await sub.await_for(lambda s: len(events(s, "alarm")) == 1, 5)
        await asyncio.sleep(0.5)
    (alarm,) = [m["payload"] for m in events(sub, "alarm")]  # once per outage
    assert (alarm["type"], alarm["gate"], alarm["severity"]) == ("gate_fault", GATE, "critical")
    assert "no frames" in alarm["detail"]
    sub.close()


class FlakyReader:
    """The real reader, but the first call fails the way a broken model file would."""

    def __init__(self, reader: PlateReader) -> None:
        self.reader = reader
        self.calls = 0

    def read(self, frame: np.ndarray):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("onnxruntime: invalid model")
        return self.reader.read(frame)


async def test_a_crashed_pipeline_is_restarted_and_reported(
    mosquitto: MosquittoBroker, tmp_path: Path, reader: PlateReader
) -> None:
    site_id = unique_site()
    sub = Subscriber(mosquitto.port, f"anju/{site_id}/+/events/+")
    rig = Rig(site_config(site_id), mosquitto, tmp_path, reader)
    rig.agent.reader = FlakyReader(reader)
    async with rig:
        rig.gate.arrive("浙HA1234")
        assert await wait_until(lambda: rig.gate.relay.opens(), 10), "gate stayed dead"
        assert await sub.await_for(lambda s: len(events(s, "gate_decision")) == 1)
    (alarm,) = [m["payload"] for m in events(sub, "alarm")]
    assert alarm["type"] == "gate_fault" and "RuntimeError" in alarm["detail"]
    sub.close()


async def test_an_edge_service_sees_retained_sync_and_publishes_through_the_outbox(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    """How the car-park edge plugs in: a service registers handlers, then runs supervised."""
    site_id = unique_site()
    site = site_config(site_id)
    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    hub.connect("127.0.0.1", mosquitto.port)
    hub.loop_start()
    lists = signed(
        make_message(Kind.VEHICLE_LIST, site=site_id, device="hub", payload=VehicleList(version=2))
    )
    sync = str(topics.sync(site_id, "vehicles"))
    hub.publish(sync, lists.to_json(), qos=1, retain=True).wait_for_publish(5)
    hub.loop_stop()
    hub.disconnect()
    sub = Subscriber(mosquitto.port, f"anju/{site_id}/edge-carpark/events/slot_state")
    seen: list[str] = []

    def car_park(ctx):
        async def on_sync(message) -> None:
            seen.append(message.kind)

        ctx.bus.on_sync(on_sync)

        async def run() -> None:
            await ctx.emit(
                Kind.SLOT_STATE,
                SlotState(slot="A01", occupied=True, since=ctx.now(), source="camera"),
            )
            await asyncio.Event().wait()

        return run

    agent = EdgeAgent(
        site,
        "edge-carpark",
        broker_url=mosquitto.url,
        data_dir=tmp_path,
        camera_factory=lambda g: None,
        relay_factory=lambda g: None,
        sensor_factory=lambda g: None,
        services=[car_park],
        bus_options=FAST,
        hub_keys=[HUB_KEY.public_key()],
    )
    await agent.start()
    try:
        assert await wait_until(lambda: seen == ["vehicle_list"], 5)
        assert await sub.await_for(lambda s: len(s.of_kind("slot_state")) == 1, 5)
        assert agent.lists.version == 2  # the agent's own handler saw it too
    finally:
        await agent.stop()
    sub.close()


async def test_a_car_following_through_the_open_barrier_raises_a_tailgating_alarm(
    mosquitto: MosquittoBroker, tmp_path: Path, reader: PlateReader
) -> None:
    site_id = unique_site()
    sub = Subscriber(mosquitto.port, f"anju/{site_id}/#")
    async with Rig(site_config(site_id, open_seconds=30), mosquitto, tmp_path, reader) as rig:
        rig.gate.drive_through_s = 2.5  # slow enough for the camera to read the follower
        rig.gate.arrive("浙HA1234")
        assert await wait_until(lambda: rig.gate.relay.opens(), 10)
        rig.gate.tailgate("京A12345")  # bumper to bumper: the loop never clears
        assert await sub.await_for(lambda s: len(events(s, "alarm")) == 1, 10)
        # Once the follower has cleared the loop the barrier comes down, long before 30 s.
        assert await wait_until(lambda: rig.gate.relay.position == "closed", 10)
    (alarm,) = [m["payload"] for m in events(sub, "alarm")]
    assert (alarm["type"], alarm["gate"]) == ("tailgating", GATE)
    assert alarm["detail"] == "京A12345 followed 浙HA1234 through the open barrier"
    assert [r["payload"]["plate"] for r in events(sub, "plate_read")] == ["浙HA1234", "京A12345"]
    assert len(events(sub, "gate_decision")) == 1  # the follower got no decision
    assert [h.plate for h in rig.gate.history] == ["浙HA1234", "京A12345"]
    assert rig.gate.history[1].opened_at is not None  # it did drive through
    sub.close()


async def test_without_a_loop_detector_the_gate_recognises_continuously(
    mosquitto: MosquittoBroker, tmp_path: Path, reader: PlateReader
) -> None:
    """Real-hardware mode with no loop input (``AlwaysPresent``): each car is still one
    decision, the barrier closes on its timer, and the next car is a new visit."""
    site_id = unique_site()
    sub = Subscriber(mosquitto.port, f"anju/{site_id}/+/events/+")
    rig = Rig(site_config(site_id, open_seconds=1.0), mosquitto, tmp_path, reader)
    rig.agent.sensor_factory = lambda g: AlwaysPresent()
    async with rig:
        rig.gate.arrive("浙HA1234")
        assert await wait_until(lambda: rig.gate.relay.opens(), 10)
        assert await wait_until(lambda: rig.gate.relay.position == "closed", 5)
        rig.gate.arrive("京A12345")
        assert await sub.await_for(lambda s: len(events(s, "gate_decision")) == 2, 10)
        await asyncio.sleep(1.0)
    decisions = [m["payload"] for m in events(sub, "gate_decision")]
    assert [(d["subject"], d["reason"]) for d in decisions] == [
        ("浙HA1234", "resident"),
        ("京A12345", "unknown"),
    ]
    assert events(sub, "alarm") == []  # no false tailgating without a loop
    sub.close()


async def test_a_remote_close_is_rejected_while_a_vehicle_is_at_the_barrier(
    mosquitto: MosquittoBroker, tmp_path: Path, reader: PlateReader
) -> None:
    site_id = unique_site()
    sub = Subscriber(mosquitto.port, f"anju/{site_id}/+/events/+")
    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    hub.connect("127.0.0.1", mosquitto.port)
    hub.loop_start()
    async with Rig(site_config(site_id), mosquitto, tmp_path, reader) as rig:
        assert await rig.agent.bus.wait_connected(5)
        await asyncio.sleep(0.3)
        rig.gate.arrive("京A12345")  # refused, waits on the loop
        assert await sub.await_for(lambda s: len(events(s, "gate_decision")) == 1)
        close = gate_command(site_id, GateAction.CLOSE)
        hub.publish(str(topics.command(site_id, EDGE, "gate")), close.to_json(), qos=1)
        assert await sub.await_for(lambda s: len(events(s, "command_ack")) == 1)
    ack = events(sub, "command_ack")[0]["payload"]
    assert (ack["command_id"], ack["result"]) == (close.id, "rejected")
    assert "vehicle" in ack["detail"]
    assert rig.gate.relay.events == []
    hub.loop_stop()
    hub.disconnect()
    sub.close()


async def test_run_edge_on_hardware_refuses_simulator_cameras(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANJU_EDGE_NORTH_PASSWORD", "secret")
    with pytest.raises(ConfigError, match="--simulate"):
        await run_edge(EXAMPLE_SITE, "edge-north", "mqtt://127.0.0.1:1", tmp_path)


class RegionSpy:
    """The real reader, noting the size of every image it was given."""

    def __init__(self, reader: PlateReader) -> None:
        self.reader = reader
        self.shapes: list[tuple[int, ...]] = []

    def read(self, frame: np.ndarray):
        self.shapes.append(frame.shape)
        return self.reader.read(frame)


async def test_only_the_plate_region_is_read_and_a_sure_plate_opens_on_its_first_frame(
    mosquitto: MosquittoBroker, tmp_path: Path, reader: PlateReader
) -> None:
    site_id = unique_site()
    data = site_config(site_id).model_dump(mode="json", exclude_none=True)
    for gate in data["gates"]:
        gate["plate_region"] = [0.0, 0.25, 1.0, 0.75]
    sub = Subscriber(mosquitto.port, f"anju/{site_id}/+/events/+")
    rig = Rig(SiteConfig.model_validate(data), mosquitto, tmp_path, reader)
    spy = RegionSpy(reader)
    rig.agent.reader = spy
    async with rig:
        rig.gate.arrive("浙HA1234")
        assert await wait_until(lambda: rig.gate.relay.opens(), 10), "barrier never opened"
        assert await sub.await_for(lambda s: len(events(s, "plate_read")) == 1)
    read = events(sub, "plate_read")[0]["payload"]
    assert read["plate"] == "浙HA1234" and read["frames"] == 1
    assert read["box"][1] >= 180  # frame coordinates: below the region's top edge
    assert spy.shapes and all(s[:2] == (540, 1280) for s in spy.shapes)
    sub.close()
