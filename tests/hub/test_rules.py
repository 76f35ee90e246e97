"""Violation rules (pure): decisions, alarms, device offline open/resolve, the watchdog."""

from __future__ import annotations

import pytest

from hub.rules import (
    Category,
    DeviceSeen,
    OpenViolation,
    ResolveViolation,
    RuleContext,
    ViolationType,
    evaluate,
    offline_key,
    seen_at,
    silent_devices,
)
from models.messages import AlarmType, Severity
from tests.support import (
    EAST,
    NORTH,
    NORTH_GATE,
    SITE,
    T0,
    alarm,
    decision,
    heartbeat,
    later,
    plate_read,
    status,
)

CTX = RuleContext()


def test_blacklisted_plate_refused_is_a_critical_vehicle_violation() -> None:
    msg = decision("浙HX9999", "refuse", "blacklisted", source_event="plate-read-id-1", ts=T0)
    [effect] = evaluate(msg, later(1), CTX)
    assert isinstance(effect, OpenViolation)
    assert effect.type is ViolationType.BLACKLISTED_VEHICLE
    assert effect.severity is Severity.CRITICAL
    assert effect.category is Category.SECURITY
    assert (effect.site, effect.device, effect.gate, effect.subject) == (
        SITE,
        NORTH,
        NORTH_GATE,
        "浙HX9999",
    )
    assert effect.evidence == (msg.id, "plate-read-id-1")
    assert effect.at == T0  # when it happened at the gate, not when it arrived
    assert effect.open_key is None  # every attempt counts


def test_blacklisted_person_is_one_violation_from_the_alarm() -> None:
    """The refusal and the alarm the gate raises with it are one incident, not two."""
    refusal = decision("person-7", "refuse", "blacklisted", credential="face")
    assert evaluate(refusal, later(0), CTX) == []
    raised = alarm("blacklist", severity="critical", subject="person-7", source_event=refusal.id)
    [effect] = evaluate(raised, later(0), CTX)
    assert effect.type is ViolationType.BLACKLIST and effect.subject == "person-7"
    assert effect.evidence == (raised.id, refusal.id)


def test_unknown_vehicle_refused_follows_the_site_rule() -> None:
    msg = decision("浙HZ0001", "refuse", "unknown")
    [effect] = evaluate(msg, later(0), RuleContext(unknown_vehicle_is_violation=True))
    assert effect.type is ViolationType.UNKNOWN_VEHICLE
    assert effect.severity is Severity.WARNING
    assert evaluate(msg, later(0), RuleContext(unknown_vehicle_is_violation=False)) == []


@pytest.mark.parametrize(
    ("subject", "verdict", "reason", "credential"),
    [
        ("浙HA1234", "open", "resident", "plate"),
        ("浙HK2020", "open", "visitor_pass", "plate"),
        ("浙HM3030", "refuse", "pass_expired", "plate"),
        ("浙HA1234", "refuse", "low_confidence", "plate"),
        ("unknown-face", "refuse", "unknown", "face"),  # repeated unknown faces: an edge alarm
        ("浙HB5678", "refuse", "capacity_full", "plate"),
    ],
)
def test_ordinary_decisions_are_not_violations(subject, verdict, reason, credential) -> None:
    assert evaluate(decision(subject, verdict, reason, credential=credential), T0, CTX) == []


@pytest.mark.parametrize("alarm_type", list(AlarmType))
def test_every_alarm_type_becomes_its_violation(alarm_type: AlarmType) -> None:
    msg = alarm(alarm_type.value, severity="critical")
    [effect] = evaluate(msg, T0, CTX)
    assert isinstance(effect, OpenViolation)
    assert effect.type.value == alarm_type.value
    assert effect.severity is Severity.CRITICAL
    assert effect.evidence == (msg.id,)
    service = alarm_type in (AlarmType.CAMERA_TAMPER, AlarmType.GATE_FAULT)
    assert (effect.category is Category.SERVICE) == service


def test_alarm_without_gate_names_the_device() -> None:
    [effect] = evaluate(alarm("camera_tamper", gate=None), T0, CTX)
    assert effect.subject == NORTH and effect.gate is None


def test_offline_status_alone_opens_nothing() -> None:
    # the LWT starts the clock; the watchdog opens the violation beyond the limit
    assert evaluate(status(False, reason="connection lost"), T0, CTX) == []


def test_any_message_from_an_offline_device_resolves_its_violation() -> None:
    ctx = RuleContext(open_keys=frozenset({offline_key(SITE, NORTH)}))
    for msg in (heartbeat(ts=T0), status(True, ts=T0), plate_read(ts=T0)):
        [effect] = evaluate(msg, later(5), ctx)
        assert isinstance(effect, ResolveViolation)
        assert effect.open_key == offline_key(SITE, NORTH)
        assert effect.evidence == (msg.id,)
        assert effect.at == T0
    # another device's message does not resolve it; an offline status does not either
    assert evaluate(heartbeat(device=EAST), T0, ctx) == []
    assert evaluate(status(False), T0, ctx) == []


def test_decision_from_a_returning_device_resolves_and_opens() -> None:
    ctx = RuleContext(open_keys=frozenset({offline_key(SITE, NORTH)}))
    effects = evaluate(decision("浙HX9999", "refuse", "blacklisted"), T0, ctx)
    assert [type(e) for e in effects] == [ResolveViolation, OpenViolation]


def test_seen_at_never_trusts_a_clock_in_the_future() -> None:
    assert seen_at(heartbeat(ts=later(60)), later(1)) == later(1)
    assert seen_at(heartbeat(ts=T0), later(1)) == T0


def _limits(seconds: float = 90) -> dict[str, float]:
    return {SITE: seconds}


def test_watchdog_flags_silence_beyond_the_limit_only() -> None:
    devices = [
        DeviceSeen(SITE, NORTH, last_seen=T0),
        DeviceSeen(SITE, EAST, last_seen=later(50)),
    ]
    found = silent_devices(
        devices, now=later(100), watching_since=T0, offline_after_s=_limits(), open_keys=frozenset()
    )
    assert [v.device for v in found] == [NORTH]
    [v] = found
    assert v.type is ViolationType.DEVICE_OFFLINE
    assert v.category is Category.SERVICE
    assert v.open_key == offline_key(SITE, NORTH)
    assert "no message" in v.detail and "limit 90 s" in v.detail


def test_watchdog_one_open_violation_per_device() -> None:
    devices = [DeviceSeen(SITE, NORTH, last_seen=T0)]
    kwargs = {"now": later(1000), "watching_since": T0, "offline_after_s": _limits()}
    open_keys = frozenset({offline_key(SITE, NORTH)})
    assert silent_devices(devices, open_keys=open_keys, **kwargs) == []
    assert len(silent_devices(devices, open_keys=frozenset(), **kwargs)) == 1


def test_watchdog_grace_after_hub_start_and_for_never_seen_devices() -> None:
    devices = [DeviceSeen(SITE, NORTH, last_seen=T0), DeviceSeen(SITE, EAST, last_seen=None)]
    started = later(3600)  # the hub was down for an hour: nobody could be heard
    quiet = silent_devices(
        devices,
        now=started + (later(60) - T0),
        watching_since=started,
        offline_after_s=_limits(),
        open_keys=frozenset(),
    )
    assert quiet == []
    found = silent_devices(
        devices,
        now=started + (later(91) - T0),
        watching_since=started,
        offline_after_s=_limits(),
        open_keys=frozenset(),
    )
    assert {v.device for v in found} == {NORTH, EAST}
    assert any("never seen" in v.detail for v in found)


def test_watchdog_reported_offline_beyond_the_limit() -> None:
    dev = DeviceSeen(SITE, NORTH, later(100), offline_since=later(100), offline_reason="x")
    kwargs = {"watching_since": T0, "offline_after_s": _limits(30), "open_keys": frozenset()}
    assert silent_devices([dev], now=later(129), **kwargs) == []
    [v] = silent_devices([dev], now=later(131), **kwargs)
    assert "reported offline" in v.detail and "(x)" in v.detail


def test_watchdog_ignores_unknown_sites() -> None:
    devices = [DeviceSeen("elsewhere", NORTH, last_seen=T0)]
    assert (
        silent_devices(
            devices,
            now=later(1e6),
            watching_since=T0,
            offline_after_s=_limits(),
            open_keys=frozenset(),
        )
        == []
    )
