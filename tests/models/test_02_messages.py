"""Message envelope: round trip, validation reasons, JSON Schema."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from models.messages import (
    MAX_PAYLOAD_BYTES,
    MESSAGE_TYPES,
    Kind,
    MessageError,
    PlateRead,
    json_schemas,
    make_message,
    parse_message,
)


def _plate_read(**overrides):
    payload = {
        "gate": "north-vehicle",
        "plate": "浙H·A1234",
        "color": "blue",
        "confidence": 0.93,
        "frames": 4,
    }
    payload.update(overrides)
    return make_message(Kind.PLATE_READ, site="lakeside", device="edge-north", payload=payload)


def test_round_trip_keeps_type_and_normalises_plate() -> None:
    msg = _plate_read()
    back = parse_message(msg.to_json())
    assert type(back) is MESSAGE_TYPES[Kind.PLATE_READ]
    assert back == msg
    assert isinstance(back.payload, PlateRead)
    assert back.payload.plate == "浙HA1234"
    assert json.loads(msg.to_json())["schema"] == 1


def test_every_kind_has_a_schema() -> None:
    schemas = json_schemas()
    assert set(schemas) == {k.value for k in Kind} | {"message"}
    assert schemas["plate_read"]["properties"]["kind"]["const"] == "plate_read"


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        (b"\xff\xfe", "Invalid JSON"),
        (b"[]", "message"),
        (b'{"kind": "teleport"}', "does not match"),
    ],
)
def test_garbage_is_rejected_with_a_reason(raw: bytes, reason_part: str) -> None:
    with pytest.raises(MessageError) as err:
        parse_message(raw)
    assert reason_part in err.value.reason


def test_reason_names_the_bad_field() -> None:
    data = json.loads(_plate_read().to_json())
    data["payload"]["confidence"] = 1.7
    with pytest.raises(MessageError) as err:
        parse_message(json.dumps(data))
    assert "payload.confidence" in err.value.reason


def test_bad_plate_and_unknown_field_and_naive_time_rejected() -> None:
    data = json.loads(_plate_read().to_json())
    for mutate, part in [
        (lambda d: d["payload"].update(plate="浙HAI234"), "payload.plate"),
        (lambda d: d["payload"].update(extra=1), "payload.extra"),
        (lambda d: d.update(ts="2026-11-27T08:00:00"), "ts"),
        (lambda d: d.update(schema=99), "schema"),
        (lambda d: d.update(site="a/b"), "site"),
    ]:
        bad = json.loads(json.dumps(data))
        mutate(bad)
        with pytest.raises(MessageError) as err:
            parse_message(json.dumps(bad, ensure_ascii=False).encode())
        assert part in err.value.reason


def test_oversize_payload_rejected_before_parsing() -> None:
    with pytest.raises(MessageError, match="exceeds"):
        parse_message(b" " * (MAX_PAYLOAD_BYTES + 1))


def test_ids_are_unique_and_timestamps_aware() -> None:
    a, b = _plate_read(), _plate_read()
    assert a.id != b.id
    assert a.ts.tzinfo is not None
    assert datetime.now(UTC) - a.ts < timedelta(seconds=5)


def test_gate_command_requires_reason() -> None:
    with pytest.raises(Exception, match="reason"):
        make_message(
            Kind.GATE_COMMAND,
            site="s",
            device="d",
            payload={
                "gate": "g",
                "action": "open",
                "reason": "",
                "operator": "op",
                "expires_at": datetime.now(UTC).isoformat(),
            },
        )
