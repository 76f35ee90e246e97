"""The recorder's parking part on a real SQLite store: slot_state events are timed by the
watchdog (also across a hub restart), and car-park snapshots are relayed with the hub's
count of visitors inside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.recorder import Recorder
from hub.store import Store
from hub.validate import Accepted
from models import topics
from models.messages import EnvelopeBase, Kind, make_message
from models.site import load_site_config

SITE = load_site_config()
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def accepted(kind: Kind, device: str, payload: dict, at: datetime) -> Accepted:
    message = make_message(kind, site="lakeside", device=device, payload=payload, ts=at)
    topic = topics.state if kind is Kind.CARPARK_SNAPSHOT else topics.event
    return Accepted(message, str(topic("lakeside", device, kind.value)), at)


def slot(slot_id: str, occupied: bool, since: datetime) -> Accepted:
    payload = {"slot": slot_id, "occupied": occupied, "since": since, "source": "camera"}
    return accepted(Kind.SLOT_STATE, "edge-carpark", payload, since)


def snapshot(at: datetime, visitor_free: int = 3) -> Accepted:
    payload = {
        "zones": [{"zone": "general", "free": visitor_free, "occupied": 5}],
        "free": visitor_free,
        "occupied": 5,
        "visitor_free": visitor_free,
    }
    return accepted(Kind.CARPARK_SNAPSHOT, "edge-carpark", payload, at)


def visitor_entry(at: datetime) -> Accepted:
    payload = {
        "gate": "north-vehicle",
        "credential": "plate",
        "subject": "浙HK2020",
        "decision": "open",
        "reason": "visitor_pass",
    }
    return accepted(Kind.GATE_DECISION, "edge-north", payload, at)


async def test_fire_lane_timed_across_a_restart_and_resolved(tmp_path: Path, db_url) -> None:
    store = await Store.open(tmp_path, db_url)
    recorder = Recorder(store, [SITE])
    await recorder.load()
    await recorder.record([slot("F01", True, T0)])
    assert await recorder.check_parking(now=T0 + timedelta(minutes=1)) == 0
    await store.close()

    store = await Store.open(tmp_path, db_url)  # the hub restarts; the car is still there
    recorder = Recorder(store, [SITE])
    await recorder.load()
    assert await recorder.check_parking(now=T0 + timedelta(minutes=3)) == 1
    assert await recorder.check_parking(now=T0 + timedelta(minutes=4)) == 0  # once
    (v,) = await store.violations(type="fire_lane_parking")
    assert v["status"] == "open" and v["subject"] == "F01"
    await recorder.record([slot("F01", False, T0 + timedelta(minutes=5))])
    (v,) = await store.violations(type="fire_lane_parking")
    assert v["status"] != "open" and len(v["evidence"]) == 2
    await store.close()


async def test_snapshots_are_relayed_with_the_visitor_count(tmp_path: Path, db_url) -> None:
    relayed: list[EnvelopeBase] = []
    store = await Store.open(tmp_path, db_url)
    recorder = Recorder(store, [SITE], on_carpark_snapshot=relayed.append)
    await recorder.load()
    await recorder.record([snapshot(T0)])
    assert [m.payload.visitors_inside for m in relayed] == [0]  # type: ignore[attr-defined]
    await recorder.record([visitor_entry(T0 + timedelta(seconds=5))])  # count changed
    assert relayed[-1].payload.visitors_inside == 1  # type: ignore[attr-defined]
    assert relayed[-1].id == relayed[0].id  # the same snapshot, recounted
    await recorder.record([snapshot(T0 - timedelta(minutes=1), visitor_free=0)])  # late, older
    assert len(relayed) == 2
    await recorder.record([snapshot(T0 + timedelta(seconds=9), visitor_free=0)])
    assert relayed[-1].payload.visitor_free == 0  # type: ignore[attr-defined]
    await store.close()
