"""A malformed flood against a real hub process: every reject counted with its reason (the
sum over reasons equals what was sent, per reason too), the good messages around them all
stored once, the hub ready throughout."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from models import topics
from models.messages import Kind, make_message
from tests.faults.harness import Hub, durable_broker, scale, site_file, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

SITE, DEVICE, GATE = "loadtest", "lg-0000", "lg-0000-gate"
MALFORMED = int(scale(20_000, 200_000))


def _read(**payload: object) -> dict:
    body = {"gate": GATE, "plate": "浙HA1234", "color": "blue", "confidence": 0.9, "frames": 3}
    message = make_message(Kind.PLATE_READ, site=SITE, device=DEVICE, payload=body)
    envelope = json.loads(message.to_json())
    envelope["payload"].update(payload)
    return envelope


EVENTS = str(topics.event(SITE, DEVICE, "plate_read"))


def malformed(i: int) -> tuple[str, bytes, str]:
    """The i-th malformed message: topic, payload, the reason code the hub must count."""
    match i % 12:
        case 0:
            return EVENTS, b"\x00not json at all", "not_json"
        case 1:
            return EVENTS, b'{"schema": 1, "id": ', "not_json"
        case 2:
            env = _read()
            env["schema"] = "1"  # a string where a number belongs: strict, not coerced
            return EVENTS, json.dumps(env).encode(), "invalid_envelope"
        case 3:
            return EVENTS, json.dumps(_read(frames="3")).encode(), "invalid_payload"
        case 4:
            env = _read()
            env["kind"] = "teleport"
            return EVENTS, json.dumps(env).encode(), "unknown_kind"
        case 5:
            return EVENTS, json.dumps(_read(extra_field=1)).encode(), "invalid_payload"
        case 6:
            return EVENTS, json.dumps(_read(plate="ZZ123")).encode(), "invalid_payload"
        case 7:
            env = _read()
            env["device"] = "lg-0001"  # speaks for another device
            return EVENTS, json.dumps(env).encode(), "topic_mismatch"
        case 8:
            state = str(topics.state(SITE, DEVICE, "plate_read"))
            return state, json.dumps(_read()).encode(), "wrong_channel"
        case 9:
            return EVENTS, json.dumps(_read(gate="not-my-gate")).encode(), "unknown_device"
        case 10:
            env = _read()
            env["ts"] = "2026-11-27T08:00:00"  # naive
            return EVENTS, json.dumps(env).encode(), "invalid_envelope"
        case _:
            if i % 240 == 11:  # a few oversize ones (300 KB each)
                return EVENTS, b"{" + b" " * 300_000 + b"}", "oversize"
            return (
                f"anju/{SITE}/{DEVICE}/events/bad topic",
                json.dumps(_read()).encode(),
                ("bad_topic"),
            )


def test_malformed_flood_is_counted_by_reason_and_loses_no_good_message(tmp_path: Path) -> None:
    broker = durable_broker(tmp_path / "broker")
    site = site_file(tmp_path, 2)
    hub = Hub(tmp_path, site, broker.url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="flood")
    try:
        hub.start_ready()
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        sent: dict[str, int] = {}
        good: list[str] = []
        infos = []
        for i in range(MALFORMED):
            topic, payload, code = malformed(i)
            sent[code] = sent.get(code, 0) + 1
            infos.append(client.publish(topic, payload, qos=1))
            if i % 10 == 0:
                env = _read()
                good.append(env["id"])
                infos.append(client.publish(EVENTS, json.dumps(env).encode(), qos=1))
            if len(infos) >= 20_000:  # paho's packet ids wrap at 65,535: wait before reuse
                for info in infos:
                    info.wait_for_publish(120)
                infos = []
        for info in infos:
            info.wait_for_publish(120)
        assert set(sent) >= {"not_json", "invalid_envelope", "invalid_payload", "unknown_kind",
                             "topic_mismatch", "wrong_channel", "unknown_device", "oversize",
                             "bad_topic"}  # fmt: skip

        db_path = hub.data / "hub.db"

        def counted() -> dict[str, int]:
            db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
            try:
                rows = db.execute("SELECT reason, sum(count) FROM reject_counts GROUP BY reason")
                return dict(rows.fetchall())
            finally:
                db.close()

        started = time.monotonic()
        assert wait_for(lambda: sum(counted().values()) >= MALFORMED, scale(60, 300), 0.5)
        assert counted() == sent  # every reject, under the reason it was sent with
        assert hub.readyz()[0] == 200
        stored = hub.stored()
        assert wait_for(lambda: set(hub.stored()) >= set(good), 30)
        stored = hub.stored()
        assert set(stored) == set(good) and all(n == 1 for _k, n in stored.values())
        metrics = hub.metrics()
        assert f'anju_hub_messages_rejected_total{{reason="not_json"}} {sent["not_json"]}.0' in (
            metrics
        )
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        samples = db.execute("SELECT count(*) FROM rejected").fetchone()[0]
        db.close()
        assert 0 < samples < MALFORMED  # samples kept whole, the rest only counted
        print(json.dumps({"flood": MALFORMED, "counted_in_s": round(time.monotonic() - started, 1),
                          "samples": samples}))  # fmt: skip
    finally:
        client.disconnect()
        client.loop_stop()
        hub.stop()
        broker.stop()
