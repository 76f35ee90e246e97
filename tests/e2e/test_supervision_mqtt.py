"""End to end over a real mosquitto: simulated edge devices publish MQTT (heartbeats, alarms,
a last will), the hub's service stores events and opens violations (its watchdog opens the
outage), the regulator orders a repair that is missed, and the half-year report shows each
deduction with its records and the device events behind them."""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from hub.service import Hub
from hub.supervision.domain import ActionIn, Principal
from hub.supervision.periods import TZ, Period
from hub.supervision.repo import SupervisionRepo
from hub.supervision.report import build_report, write_report
from hub.supervision.standard import DEFAULT_STANDARD, load_standard
from hub.supervision.workflow import Action, Decision, Role
from models import topics
from models.messages import Kind, make_message
from models.site import SiteConfig, load_site_config
from tests.mosquitto import MosquittoBroker

pytestmark = pytest.mark.e2e

SITE = "lakeside"
OFFLINE_AFTER_S = 2.0
REGULATOR = Principal("county.inspector", Role.REGULATOR)
COMPANY = Principal("greenleaf.manager", Role.COMPANY, frozenset({SITE}))


class MqttDevice:
    """A simulated edge device: connects with its last will, publishes real envelopes."""

    def __init__(self, port: int, device: str) -> None:
        self.device = device
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-{device}")
        will = make_message(
            Kind.DEVICE_STATUS,
            site=SITE,
            device=device,
            payload={"online": False, "reason": "connection lost"},
        )
        self.client.will_set(str(topics.available(SITE, device)), will.to_json(), 1, True)
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        deadline = time.monotonic() + 5
        while not self.client.is_connected():
            assert time.monotonic() < deadline, "device could not connect"
            time.sleep(0.01)

    def send(self, kind: Kind, payload: dict) -> str:
        msg = make_message(kind, site=SITE, device=self.device, payload=payload)
        self.client.publish(str(topics.event(SITE, self.device, kind.value)), msg.to_json(), 1)
        return msg.id

    def crash(self) -> None:
        """Drop the connection without DISCONNECT: the broker publishes the last will."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def site_config() -> SiteConfig:
    site = load_site_config()
    edges = [e.model_copy(update={"credentials": None}) for e in site.edges]  # anonymous broker
    rules = site.rules.model_copy(update={"device_offline_after_s": OFFLINE_AFTER_S})
    return site.model_copy(update={"edges": edges, "rules": rules})


def fast_standard(tmp_path: Path):
    """Standard v1 with deadlines in seconds, so a test can miss them (the standard is data)."""
    data = yaml.safe_load(DEFAULT_STANDARD.read_text(encoding="utf-8"))
    data["version"] = 2
    data["service"]["device_offline"]["grace_hours"] = 0
    data["service"]["device_offline"]["points_per_hour"] = 3600  # one point per second
    data["service"]["repair_deadline_hours"]["gate_fault"] = 1 / 3600  # one second
    path = tmp_path / "standard-v2.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_standard(path)


async def test_mqtt_devices_to_traceable_report(mosquitto: MosquittoBroker, tmp_path: Path):
    site = site_config()
    hub = Hub([site], broker_url=mosquitto.url, data_dir=tmp_path / "data")
    await hub.start()
    devices = {e.id: MqttDevice(mosquitto.port, e.id) for e in site.edges}
    alive = set(devices)

    async def beat() -> None:
        while True:
            for name in list(alive):
                devices[name].send(Kind.HEARTBEAT, {"uptime_s": 1, "outbox_pending": 0})
            await asyncio.sleep(0.25)

    beating = asyncio.create_task(beat())
    try:
        store = hub.store
        assert store is not None
        fault_event = devices["edge-north"].send(
            Kind.ALARM,
            {
                "type": "gate_fault",
                "gate": "north-vehicle",
                "severity": "critical",
                "detail": "barrier arm stuck",
            },
        )
        devices["edge-east"].send(Kind.ALARM, {"type": "tailgating", "gate": "east-pedestrian"})
        alive.discard("edge-carpark")
        devices["edge-carpark"].crash()

        async def offline() -> bool:
            return bool(await _outages(store))

        await until(offline)
        await asyncio.sleep(1.0)
        devices["edge-carpark"] = MqttDevice(mosquitto.port, "edge-carpark")  # power is back
        alive.add("edge-carpark")

        async def back() -> bool:
            rows = await _outages(store)
            return bool(rows) and rows[0]["status"] == "resolved"

        await until(back)
        await until(lambda: _has_violation(store, "gate_fault", "tailgating"))

        repo = await SupervisionRepo.open(store)
        await repo.sync_sites([site])
        fault = (await repo.violations(type="gate_fault"))[0]
        assert fault["evidence"] == [fault_event]
        now = datetime.now(TZ)
        step = ActionIn(
            action=Action.TRIAGE,
            decision=Decision.ORDER_FIX,
            deadline=now + timedelta(seconds=1),
            note="repair the north gate",
        )
        order_id = (await repo.act(REGULATOR, "violation", fault["id"], step, now=now))["order_id"]
        await asyncio.sleep(1.5)  # the company lets the deadline pass
        assert await repo.tick() == 2
        late = ActionIn(action=Action.RECTIFY, evidence=["work-order:GF-1"])
        await repo.act(COMPANY, "order", order_id, late)

        standard = fast_standard(tmp_path)
        period = Period.of(datetime.now(TZ))
        data = await build_report(repo, period, standard)
        files = write_report(data, tmp_path / "report", formats=frozenset({"html", "csv"}))
        events = {e["id"] for e in await store.events(limit=10_000)}
        outage = (await _outages(store))[0]
    finally:
        beating.cancel()
        for device in devices.values():
            device.close()
        await hub.stop()

    company = data.companies[0]
    rules = {i.rule: i for i in company.bad}
    overdue = rules["overdue.order"]
    assert [r["id"] for r in overdue.records] == [f"order:{order_id}"]
    assert (
        overdue.evidence[0] == f"violation:{fault['id']}" and "work-order:GF-1" in overdue.evidence
    )
    repair = rules["service.late_repair.gate_fault"]
    assert repair.records[0]["id"] == f"violation:{fault['id']}" and fault_event in repair.evidence
    # never triaged: priced apart from the score (provisional), not in it
    assert not [i for i in company.bad if i.records[0]["id"] == f"violation:{outage['id']}"]
    downtime = next(
        i for i in company.provisional if i.records[0]["id"] == f"violation:{outage['id']}"
    )
    assert downtime.rule == "service.device_offline"
    assert float(downtime.points.replace("−", "-")) <= -0.5  # about two seconds offline
    assert "violations.tailgating.warning" not in rules  # the regulator never saw it
    assert "violations.tailgating.warning" in {i.rule for i in company.provisional}
    for item in company.bad:  # device evidence is made of stored MQTT events
        device_refs = [e for e in item.evidence if ":" not in e]
        assert set(device_refs) <= events
    html = files["html"].read_text(encoding="utf-8")
    assert f"order:{order_id}" in html and fault_event in html and "version 2" in html
    with files["items_csv"].open(encoding="utf-8-sig") as fh:
        assert any(row["规则 rule"] == "overdue.order" for row in csv.DictReader(fh))


async def _outages(store) -> list[dict]:
    return [
        v for v in await store.violations(type="device_offline") if v["device"] == "edge-carpark"
    ]


async def _has_violation(store, *types: str) -> bool:
    found = {v["type"] for v in await store.violations()}
    return set(types) <= found
