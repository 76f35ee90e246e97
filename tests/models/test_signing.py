"""Signed hub -> edge messages: canonical bytes, sign/verify, and every refusal of check_signed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.messages import Kind, make_message, parse_message
from models.signing import (
    HUB_DEVICE,
    Expected,
    SignatureError,
    canonical_bytes,
    check_signed,
    generate_key,
    is_newer,
    key_id,
    message_bytes,
    private_from_pem,
    private_to_pem,
    public_from_text,
    public_to_text,
    sign_message,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
KEY = generate_key()
EXPECTED = Expected(site="lakeside", device="edge-north", keys=(KEY.public_key(),))


def command(expires_in_s: float = 10.0, **envelope):
    fields = {"site": "lakeside", "device": "edge-north", "ts": NOW, **envelope}
    return make_message(
        Kind.GATE_COMMAND,
        payload={
            "gate": "north-vehicle",
            "action": "open",
            "reason": "delivery van",
            "operator": "guard1",
            "expires_at": NOW + timedelta(seconds=expires_in_s),
        },
        **fields,
    )


def vehicle_list(version: int = 3, **envelope):
    fields = {"site": "lakeside", "device": HUB_DEVICE, "ts": NOW, **envelope}
    return make_message(Kind.VEHICLE_LIST, payload={"version": version, "residents": []}, **fields)


def test_canonical_bytes_ignore_key_order_and_spacing():
    assert canonical_bytes({"b": 1, "a": "安"}) == canonical_bytes({"a": "安", "b": 1})
    assert canonical_bytes({"a": "安"}) == '{"a":"安"}'.encode()


def test_signature_survives_the_wire():
    signed = sign_message(command(), KEY)
    received = parse_message(signed.to_json())
    assert message_bytes(received) == message_bytes(signed)
    check_signed(received, EXPECTED, NOW)  # no exception


def test_unsigned_messages_carry_no_sig_field():
    assert b'"sig"' not in command().to_json()


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (command(), "unsigned"),
        (sign_message(command(), generate_key()), "not a pinned hub key"),
        (sign_message(command(site="elsewhere"), KEY), "for site"),
        (sign_message(command(device="edge-south"), KEY), "for device"),
        (sign_message(command(expires_in_s=70 * 365 * 86400), KEY), "ahead"),
        (sign_message(command(ts=NOW + timedelta(days=1)), KEY), "future"),
        (sign_message(vehicle_list(device="edge-north"), KEY), "for device"),
    ],
)
def test_refusals(message, reason):
    with pytest.raises(SignatureError, match=reason):
        check_signed(parse_message(message.to_json()), EXPECTED, NOW)


def test_tampered_payload_is_a_bad_signature():
    signed = sign_message(command(), KEY)
    forged = signed.model_copy(update={"payload": signed.payload.model_copy(update={"gate": "x"})})
    with pytest.raises(SignatureError, match="bad signature"):
        check_signed(forged, EXPECTED, NOW)


def test_tampered_version_of_a_list_is_a_bad_signature():
    signed = sign_message(vehicle_list(), KEY)
    huge = signed.payload.model_copy(update={"version": 2**62})
    with pytest.raises(SignatureError, match="bad signature"):
        check_signed(signed.model_copy(update={"payload": huge}), EXPECTED, NOW)


def test_lists_are_checked_but_never_expire():
    check_signed(sign_message(vehicle_list(ts=NOW - timedelta(days=90)), KEY), EXPECTED, NOW)


def test_edge_to_hub_kinds_are_refused_even_signed():
    beat = make_message(
        Kind.HEARTBEAT, site="lakeside", device=HUB_DEVICE,
        payload={"uptime_s": 1.0, "outbox_pending": 0},
    )  # fmt: skip
    with pytest.raises(SignatureError, match="not a message the hub sends"):
        check_signed(sign_message(beat, KEY), EXPECTED, NOW)


def test_rotation_two_pinned_keys():
    new = generate_key()
    both = Expected(site="lakeside", device="edge-north", keys=(KEY.public_key(), new.public_key()))
    check_signed(sign_message(command(), new), both, NOW)
    check_signed(sign_message(command(), KEY), both, NOW)


def test_key_text_round_trips():
    text = public_to_text(KEY.public_key())
    assert key_id(public_from_text(text)) == key_id(KEY.public_key())
    assert key_id(private_from_pem(private_to_pem(KEY)).public_key()) == key_id(KEY.public_key())
    with pytest.raises(ValueError, match="32"):
        public_from_text("AAAA")
    with pytest.raises(ValueError, match="base64"):
        public_from_text("not base64!")


def test_lists_are_ordered_by_the_hubs_issue_time():
    assert is_newer(NOW, None)
    assert is_newer(NOW, NOW - timedelta(seconds=1))
    assert not is_newer(NOW, NOW)
    assert not is_newer(NOW - timedelta(seconds=1), NOW)
