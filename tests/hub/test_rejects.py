"""Reject accounting (pure): the validator's real reasons map to bounded codes; senders come
from the topic, unknown ones capped."""

from __future__ import annotations

import json

import pytest

from hub.rejects import REASON_CODES, RejectAccounting, minute_of, reason_code
from hub.validate import Rejected, Validator
from tests.support import NORTH, SITE, T0, lakeside, plate_read, topic_for

GOOD = plate_read()
TOPIC = topic_for(GOOD)


def _env(**changes: object) -> bytes:
    env = json.loads(GOOD.to_json())
    payload = changes.pop("payload", {})
    env.update(changes)
    env["payload"].update(payload)
    return json.dumps(env).encode()


CASES = [
    (TOPIC, b"\x00garbage", "not_json"),
    (TOPIC, b'{"schema": 1,', "not_json"),
    (TOPIC, _env(schema="1"), "invalid_envelope"),
    (TOPIC, _env(ts="2026-11-27T08:00:00"), "invalid_envelope"),
    (TOPIC, _env(payload={"frames": "3"}), "invalid_payload"),
    (TOPIC, _env(payload={"confidence": "0.9"}), "invalid_payload"),
    (TOPIC, _env(payload={"unknown": 1}), "invalid_payload"),
    (TOPIC, _env(kind="teleport"), "unknown_kind"),
    (TOPIC, b"{" + b" " * 300_000 + b"}", "oversize"),
    (f"anju/{SITE}/{NORTH}/events/bad topic", GOOD.to_json(), "bad_topic"),
    (TOPIC.replace("plate_read", "heartbeat"), GOOD.to_json(), "topic_mismatch"),
    (TOPIC, _env(device="edge-east"), "topic_mismatch"),
    (TOPIC.replace("/events/", "/state/"), GOOD.to_json(), "wrong_channel"),
    (TOPIC, _env(payload={"gate": "east-pedestrian"}), "unknown_device"),
    (f"anju/{SITE}/edge-ghost/events/plate_read", _env(device="edge-ghost"), "unknown_device"),
]


@pytest.mark.parametrize(("topic", "payload", "code"), CASES)
def test_validator_reasons_map_to_their_code(topic: str, payload: bytes, code: str) -> None:
    item = Validator([lakeside()]).check(topic, payload, T0)
    assert isinstance(item, Rejected), item
    assert reason_code(item.reason) == code, item.reason
    assert code in REASON_CODES


def test_strict_types_reject_what_lax_parsing_would_coerce() -> None:
    checked = Validator([lakeside()]).check(TOPIC, _env(payload={"frames": "3"}), T0)
    assert isinstance(checked, Rejected)
    assert "frames" in checked.reason and "valid integer" in checked.reason
    # JSON-native forms still parse: ISO datetime, enum strings, an array for the box tuple
    ok = Validator([lakeside()]).check(TOPIC, _env(payload={"box": [1, 2, 3, 4]}), GOOD.ts)
    assert not isinstance(ok, Rejected)


def test_sender_from_topic_and_unknown_ones_capped() -> None:
    acc = RejectAccounting(frozenset({(SITE, NORTH)}), max_unknown=1)

    def rej(topic: str) -> Rejected:
        return Rejected(topic, "payload: message: Invalid JSON: x", T0, 1, "x")

    assert acc.key(rej(TOPIC)) == (SITE, NORTH, "not_json")
    assert acc.key(rej("anju/other/dev-1/events/x"))[:2] == ("other", "dev-1")  # first unknown
    assert acc.key(rej("anju/other/dev-2/events/x"))[:2] == ("?", "?")  # over the cap
    assert acc.key(rej("anju/other/dev-1/events/x"))[:2] == ("other", "dev-1")  # still known
    assert acc.key(rej("elsewhere"))[:2] == ("?", "?")
    counts = acc.counts([rej(TOPIC)] * 3)
    assert counts == {(SITE, NORTH, "not_json", minute_of(T0)): 3}
    assert minute_of(T0) == "2026-11-27T08:00"
