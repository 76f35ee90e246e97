"""Validation of incoming MQTT messages: every bad input becomes a Rejected with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.rejects import reason_code
from hub.validate import Accepted, Ignored, Rejected, Validator
from models.messages import MAX_PAYLOAD_BYTES, Kind, make_message, utcnow
from tests.support import (
    EAST,
    NORTH,
    SITE,
    T0,
    decision,
    heartbeat,
    lakeside,
    message,
    plate_read,
    status,
    topic_for,
)

VALIDATOR = Validator([lakeside()])
HB_TOPIC = f"anju/{SITE}/{NORTH}/events/heartbeat"


def _reason(topic: str, payload: bytes) -> str:
    item = VALIDATOR.check(topic, payload, T0, mid=7, qos=1)
    assert isinstance(item, Rejected), item
    assert (item.mid, item.qos, item.received_at) == (7, 1, T0)
    assert item.payload_size == len(payload)
    return item.reason


def test_good_messages_are_accepted_with_their_delivery_facts() -> None:
    for msg in (heartbeat(), plate_read(), decision("浙HX9999", "refuse", "blacklisted")):
        item = VALIDATOR.check(topic_for(msg), msg.to_json(), msg.ts, retained=False, mid=3, qos=1)
        assert isinstance(item, Accepted)
        assert item.message == msg
        assert (item.topic, item.mid, item.qos) == (topic_for(msg), 3, 1)
    retained = status(True)
    item = VALIDATOR.check(topic_for(retained), retained.to_json(), retained.ts, retained=True)
    assert isinstance(item, Accepted) and item.retained


def test_state_channel_takes_gate_state() -> None:
    msg = message(Kind.GATE_STATE, {"gate": "north-vehicle", "position": "closed"})
    item = VALIDATOR.check(f"anju/{SITE}/{NORTH}/state/gate_state", msg.to_json(), msg.ts)
    assert isinstance(item, Accepted)


@pytest.mark.parametrize(
    ("payload", "part"),
    [
        (b"\xff\xfe\x00garbage", "Invalid JSON"),
        (b"", "Invalid JSON"),
        (b"[1, 2]", "payload: message"),
        (b'{"kind": "teleport"}', "does not match any of the expected tags"),
        (b'{"hello": "world"}', "Unable to extract tag"),
    ],
)
def test_garbage_is_rejected(payload: bytes, part: str) -> None:
    assert part in _reason(HB_TOPIC, payload)


def test_wrong_json_fields_are_rejected_naming_the_field() -> None:
    data = json.loads(heartbeat().to_json())
    data["payload"]["uptime_s"] = -5
    assert "payload.uptime_s" in _reason(HB_TOPIC, json.dumps(data).encode())
    data = json.loads(heartbeat().to_json())
    data["payload"]["surprise"] = 1
    assert "surprise" in _reason(HB_TOPIC, json.dumps(data).encode())


def test_oversize_is_rejected_before_parsing() -> None:
    reason = _reason(HB_TOPIC, b"{" + b" " * MAX_PAYLOAD_BYTES + b"}")
    assert "exceeds" in reason


def test_a_device_may_not_speak_for_another() -> None:
    msg = heartbeat(device=EAST)
    reason = _reason(HB_TOPIC, msg.to_json())
    assert "envelope device 'edge-east' does not match topic device 'edge-north'" in reason
    other_site = make_message(
        Kind.HEARTBEAT, site="hillside", device=NORTH, payload={"uptime_s": 1, "outbox_pending": 0}
    )
    assert "site" in _reason(HB_TOPIC, other_site.to_json())


def test_topic_kind_must_match_the_envelope_and_the_channel() -> None:
    hb = heartbeat().to_json()
    assert "topic names kind 'plate_read'" in _reason(f"anju/{SITE}/{NORTH}/events/plate_read", hb)
    assert "not allowed on the state channel" in _reason(f"anju/{SITE}/{NORTH}/state/heartbeat", hb)
    assert "not allowed on the available channel" in _reason(f"anju/{SITE}/{NORTH}/available", hb)
    online = status(True).to_json()
    assert "not allowed on the events channel" in _reason(
        f"anju/{SITE}/{NORTH}/events/device_status", online
    )


def test_hub_to_edge_kinds_are_never_accepted_from_a_device() -> None:
    msg = message(Kind.VEHICLE_LIST, {"version": 3})
    assert "not allowed on the events channel" in _reason(
        f"anju/{SITE}/{NORTH}/events/vehicle_list", msg.to_json()
    )


def test_topics_outside_the_tree_are_rejected() -> None:
    hb = heartbeat().to_json()
    assert _reason("something/else", hb).startswith("topic:")
    assert _reason(f"anju/{SITE}/{NORTH}/events", hb).startswith("topic:")
    assert "cmd channel" in _reason(f"anju/{SITE}/{NORTH}/cmd/heartbeat", hb)


def test_unknown_site_device_and_foreign_gate_are_rejected() -> None:
    stranger = heartbeat(device="edge-stranger")
    assert "not configured" in _reason(
        f"anju/{SITE}/edge-stranger/events/heartbeat", stranger.to_json()
    )
    hill = make_message(
        Kind.HEARTBEAT, site="hillside", device=NORTH, payload={"uptime_s": 1, "outbox_pending": 0}
    )
    assert "unknown site" in _reason(f"anju/hillside/{NORTH}/events/heartbeat", hill.to_json())
    # edge-north does not drive the south gate
    foreign = decision("浙HA1234", "open", "resident", gate="south-vehicle")
    assert "does not belong to device" in _reason(topic_for(foreign), foreign.to_json())


def test_empty_retained_payload_is_ignored_not_rejected() -> None:
    item = VALIDATOR.check(f"anju/{SITE}/{NORTH}/available", b"", T0, retained=True)
    assert isinstance(item, Ignored)


def test_rejected_keeps_a_readable_head_of_the_payload() -> None:
    payload = "车牌".encode() * 200 + b"\xff"
    item = VALIDATOR.check(HB_TOPIC, payload, T0)
    assert isinstance(item, Rejected)
    # the first 200 bytes: 33 whole pairs, then the cut character shown as escapes
    assert item.payload_head.startswith("车牌" * 33)
    assert item.payload_head.endswith("\\xe8\\xbd")


@settings(max_examples=150, deadline=None)
@given(topic=st.text(max_size=80), payload=st.binary(max_size=600), retained=st.booleans())
def test_arbitrary_input_never_raises(topic: str, payload: bytes, retained: bool) -> None:
    item = VALIDATOR.check(topic, payload, T0, retained=retained)
    assert isinstance(item, Rejected | Ignored)
    if isinstance(item, Rejected):
        assert item.reason


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(["schema", "id", "site", "device", "ts", "kind", "payload"]),
       value=_JSON, payload_field=st.sampled_from(["gate", "plate", "color", "confidence",
                                                   "frames", "box", "extra"]))  # fmt: skip
def test_mutated_envelopes_are_accepted_or_rejected_never_raise(
    field: str, value: object, payload_field: str
) -> None:
    good = json.loads(plate_read().to_json())
    for mutated in (dict(good, **{field: value}), _with_payload(good, payload_field, value)):
        item = VALIDATOR.check(topic_for(plate_read()), json.dumps(mutated).encode(), T0)
        assert isinstance(item, Accepted | Rejected)
        if isinstance(item, Accepted):  # only harmless changes pass, and then fully typed
            assert item.message.site == SITE and item.message.device == NORTH


def _with_payload(envelope: dict, key: str, value: object) -> dict:
    return {**envelope, "payload": {**envelope["payload"], key: value}}


# ------------------------------------------------------------------ time and source (issue 13)


@pytest.mark.parametrize(
    ("ts", "bound"),
    [
        (datetime(2099, 1, 1, tzinfo=UTC), "rules.max_clock_ahead_s"),
        (datetime(1970, 1, 1, tzinfo=UTC), "rules.max_event_age_s"),
    ],
)
def test_device_timestamps_far_from_the_hubs_clock_are_rejected(ts: datetime, bound: str) -> None:
    now = utcnow()
    msg = message(Kind.ALARM, {"type": "door_forced", "gate": "north-vehicle"}, ts=ts)
    item = VALIDATOR.check(topic_for(msg), msg.to_json(), now)
    assert isinstance(item, Rejected) and bound in item.reason
    assert reason_code(item.reason) == "clock_skew"


def test_timestamps_within_the_bounds_are_accepted() -> None:
    now = utcnow()
    for ts in (now + timedelta(seconds=250), now - timedelta(days=13)):
        msg = heartbeat(ts=ts)
        assert isinstance(VALIDATOR.check(topic_for(msg), msg.to_json(), now), Accepted)


def test_carpark_snapshot_only_from_the_car_park_edge() -> None:
    site = lakeside()
    car_park_edge = next(e.id for e in site.edges if e.car_park)
    other = next(e.id for e in site.edges if not e.car_park)
    payload = {"zones": [], "free": 0, "occupied": 40, "visitor_free": 0}
    for device, accepted in ((car_park_edge, True), (other, False)):
        msg = message(Kind.CARPARK_SNAPSHOT, payload, device=device)
        topic = f"anju/{SITE}/{device}/state/carpark_snapshot"
        item = VALIDATOR.check(topic, msg.to_json(), msg.ts)
        assert isinstance(item, Accepted) is accepted, item
        if not accepted:
            assert reason_code(item.reason) == "wrong_source"
