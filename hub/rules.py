"""First violation rules: pure functions from a new event (plus a little context) to effects.

No I/O here. The hub feeds every *newly stored* event to ``evaluate`` and applies the
returned effects (open or resolve a violation) in the same transaction; the watchdog
calls ``silent_devices`` periodically.

Rules:
- gate_decision refuse/blacklisted -> blacklisted_vehicle (plate); a blacklisted person's
  refusal comes with a blacklist alarm naming it, and that alarm is the one violation
  (face, or any other credential), critical;
- gate_decision refuse/unknown with a plate -> unknown_vehicle (warning), when the site's
  ``rules.unknown_vehicle_is_violation`` is on;
- alarm -> one violation of the alarm's type, with the alarm's severity;
- a device offline (it said so: device_status online=false, e.g. its LWT) or silent for
  longer than ``device_offline_after_s`` -> device_offline (a service fault against the
  property company; the brief: "offline beyond a limit", so a short network blip is not a
  violation), at most one open per device, resolved by the next message from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeGuard

from models.messages import (
    Alarm,
    AlarmType,
    AnyMessage,
    Credential,
    Decision,
    DecisionReason,
    DeviceStatusMessage,
    GateDecision,
    Severity,
)


class ViolationType(StrEnum):
    BLACKLISTED_VEHICLE = "blacklisted_vehicle"
    BLACKLISTED_PERSON = "blacklisted_person"
    UNKNOWN_VEHICLE = "unknown_vehicle"
    DEVICE_OFFLINE = "device_offline"
    # one per alarm type, same names as models.messages.AlarmType
    DOOR_FORCED = "door_forced"
    DOOR_HELD = "door_held"
    CAMERA_TAMPER = "camera_tamper"
    GATE_FAULT = "gate_fault"
    TAILGATING = "tailgating"
    BLACKLIST = "blacklist"
    UNKNOWN_FACE_REPEATED = "unknown_face_repeated"
    CONTROL_REFUSED = "control_refused"
    KEYPAD_LOCKED = "keypad_locked"
    # the hub's own: an edge acknowledged a command the hub never sent it
    UNSOLICITED_ACK = "unsolicited_ack"
    # parking (hub/car_park/rules.py)
    FIRE_LANE_PARKING = "fire_lane_parking"
    NO_PARKING = "no_parking"
    RESERVED_SLOT = "reserved_slot"
    VISITOR_OVERSTAY = "visitor_overstay"
    OUTSIDE_MARKED_SLOTS = "outside_marked_slots"


class Category(StrEnum):
    SECURITY = "security"  # someone did something (vehicle, person)
    SERVICE = "service"  # the property company's equipment or service failed; counts against it


# Service faults are the property company's responsibility (brief: "Service (counts
# against the property company)").
SERVICE_TYPES = frozenset(
    {ViolationType.DEVICE_OFFLINE, ViolationType.CAMERA_TAMPER, ViolationType.GATE_FAULT}
)


@dataclass(frozen=True, slots=True)
class OpenViolation:
    type: ViolationType
    severity: Severity
    site: str
    device: str | None
    gate: str | None
    subject: str
    at: datetime
    detail: str
    evidence: tuple[str, ...] = ()  # source event ids
    open_key: str | None = None  # at most one open violation per key

    @property
    def category(self) -> Category:
        return Category.SERVICE if self.type in SERVICE_TYPES else Category.SECURITY


@dataclass(frozen=True, slots=True)
class ResolveViolation:
    open_key: str
    at: datetime
    detail: str
    evidence: tuple[str, ...] = ()


Effect = OpenViolation | ResolveViolation


@dataclass(frozen=True, slots=True)
class RuleContext:
    unknown_vehicle_is_violation: bool = True
    open_keys: frozenset[str] = field(default_factory=frozenset)


def offline_key(site: str, device: str) -> str:
    return f"{ViolationType.DEVICE_OFFLINE}:{site}:{device}"


def is_offline_status(message: AnyMessage) -> TypeGuard[DeviceStatusMessage]:
    return isinstance(message, DeviceStatusMessage) and not message.payload.online


def seen_at(message: AnyMessage, received_at: datetime) -> datetime:
    """When a message proves its device was alive: its own time, never later than arrival."""
    return min(message.ts, received_at)


def evaluate(message: AnyMessage, received_at: datetime, ctx: RuleContext) -> list[Effect]:
    """Effects of one newly stored event, in order."""
    effects: list[Effect] = []
    effects.extend(_liveness(message, received_at, ctx))
    payload = message.payload
    if isinstance(payload, GateDecision):
        effects.extend(_decision(message, payload, ctx))
    elif isinstance(payload, Alarm):
        effects.append(_alarm(message, payload))
    return effects


def _liveness(message: AnyMessage, received_at: datetime, ctx: RuleContext) -> list[Effect]:
    """Any message but an offline status proves the device is back: resolve its offline
    violation. An offline status (the LWT) opens nothing by itself; the watchdog opens the
    violation once the device has stayed offline beyond the site's limit."""
    key = offline_key(message.site, message.device)
    if is_offline_status(message) or key not in ctx.open_keys:
        return []
    return [
        ResolveViolation(
            open_key=key,
            at=seen_at(message, received_at),
            detail=f"device back: {message.kind} received",
            evidence=(message.id,),
        )
    ]


def _decision(message: AnyMessage, decision: GateDecision, ctx: RuleContext) -> list[Effect]:
    if decision.decision is not Decision.REFUSE:
        return []
    if decision.reason is DecisionReason.BLACKLISTED:
        if decision.credential is not Credential.PLATE:
            # A pedestrian gate raises a blacklist alarm with every such refusal, naming this
            # decision: that alarm opens the one violation (with the face as evidence).
            return []
        kind = ViolationType.BLACKLISTED_VEHICLE
        severity = Severity.CRITICAL
        detail = f"blacklisted {decision.credential} {decision.subject} refused at {decision.gate}"
    elif (
        decision.reason is DecisionReason.UNKNOWN
        and decision.credential is Credential.PLATE
        and ctx.unknown_vehicle_is_violation
    ):
        kind = ViolationType.UNKNOWN_VEHICLE
        severity = Severity.WARNING
        detail = f"unknown vehicle {decision.subject} refused at {decision.gate}"
    else:
        return []
    evidence = (message.id,) + ((decision.source_event,) if decision.source_event else ())
    return [
        OpenViolation(
            type=kind,
            severity=severity,
            site=message.site,
            device=message.device,
            gate=decision.gate,
            subject=decision.subject,
            at=message.ts,
            detail=detail,
            evidence=evidence,
        )
    ]


def _alarm(message: AnyMessage, alarm: Alarm) -> OpenViolation:
    kind = ViolationType(AlarmType(alarm.type).value)
    detail = alarm.detail or f"{kind} alarm"
    return OpenViolation(
        type=kind,
        severity=alarm.severity,
        site=message.site,
        device=message.device,
        gate=alarm.gate,
        subject=alarm.subject or alarm.gate or message.device,
        at=message.ts,
        detail=detail,
        evidence=(message.id,) + ((alarm.source_event,) if alarm.source_event else ()),
    )


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    site: str
    device: str
    last_seen: datetime | None  # None: never heard from
    offline_since: datetime | None = None  # set when the device reported itself offline
    offline_reason: str = ""


def silent_devices(
    devices: Iterable[DeviceSeen],
    *,
    now: datetime,
    watching_since: datetime,
    offline_after_s: Mapping[str, float],
    open_keys: frozenset[str],
) -> list[OpenViolation]:
    """Devices offline or silent for longer than their site's limit, without an open
    offline violation.

    ``watching_since`` is when the hub started listening: a hub that was down could not
    hear anybody, so every device gets a full grace period from then.
    """
    found: list[OpenViolation] = []
    for dev in devices:
        limit = offline_after_s.get(dev.site)
        key = offline_key(dev.site, dev.device)
        if limit is None or key in open_keys:
            continue
        if dev.offline_since is not None:
            since = max(dev.offline_since, watching_since)
            reason = dev.offline_reason or "connection lost"
            what = f"reported offline at {dev.offline_since.isoformat()} ({reason})"
        else:
            since = max(dev.last_seen, watching_since) if dev.last_seen else watching_since
            heard = f"last seen {dev.last_seen.isoformat()}" if dev.last_seen else "never seen"
            what = f"no message ({heard})"
        gone_s = (now - since).total_seconds()
        if gone_s <= limit:
            continue
        found.append(
            OpenViolation(
                type=ViolationType.DEVICE_OFFLINE,
                severity=Severity.WARNING,
                site=dev.site,
                device=dev.device,
                gate=None,
                subject=dev.device,
                at=now,
                detail=f"{what}; offline for {gone_s:.0f} s, limit {limit:g} s",
                open_key=key,
            )
        )
    return found
