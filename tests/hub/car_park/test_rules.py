"""hub/car_park/rules.py: pure parking rules over slot facts, zone config and gate decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.car_park.rules import (
    ParkingState,
    due_violations,
    on_gate_decision,
    on_slot_state,
    shortest_limit_s,
    slot_key,
)
from hub.rules import OpenViolation, ResolveViolation, ViolationType
from models.messages import Kind, Severity, make_message
from models.site import load_site_config

SITE = load_site_config()  # F01/F02 fire-lane (2 min), N01 no-parking (10 min), A09 reserved
SITES = {SITE.site.id: SITE}
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
NONE: frozenset[str] = frozenset()


def slot_msg(slot: str, occupied: bool, since: datetime, plate: str | None = None):
    return make_message(
        Kind.SLOT_STATE,
        site="lakeside",
        device="edge-carpark",
        payload={
            "slot": slot,
            "occupied": occupied,
            "since": since,
            "source": "camera",
            "plate": plate,
        },
        ts=since,
    )


def decision_msg(plate: str, at: datetime, decision: str = "open", reason: str = "visitor_pass"):
    return make_message(
        Kind.GATE_DECISION,
        site="lakeside",
        device="edge-north",
        payload={
            "gate": "north-vehicle",
            "credential": "plate",
            "subject": plate,
            "decision": decision,
            "reason": reason,
        },
        ts=at,
    )


def test_fire_lane_opens_only_after_the_zone_limit_and_carries_evidence() -> None:
    state = ParkingState()
    msg = slot_msg("F01", True, T0)
    assert on_slot_state(msg, SITE, state, NONE) == []
    assert due_violations(state, SITES, T0 + timedelta(seconds=119), NONE) == []
    (v,) = due_violations(state, SITES, T0 + timedelta(seconds=125), NONE)
    assert v.type is ViolationType.FIRE_LANE_PARKING and v.severity is Severity.CRITICAL
    assert v.subject == "F01" and v.device == "edge-carpark" and v.evidence == (msg.id,)
    assert v.open_key == slot_key(ViolationType.FIRE_LANE_PARKING, "lakeside", "F01")
    assert "fire-lane" in v.detail and "2.1 min" in v.detail and "limit 2 min" in v.detail
    assert "plate unknown" in v.detail
    # already open: not again
    assert due_violations(state, SITES, T0 + timedelta(seconds=300), frozenset({v.open_key})) == []


def test_no_parking_uses_its_own_limit() -> None:
    state = ParkingState()
    on_slot_state(slot_msg("N01", True, T0, plate="浙HB5678"), SITE, state, NONE)
    assert due_violations(state, SITES, T0 + timedelta(minutes=9), NONE) == []
    (v,) = due_violations(state, SITES, T0 + timedelta(minutes=10), NONE)
    assert v.type is ViolationType.NO_PARKING and "浙HB5678" in v.detail


def test_a_car_standing_in_the_unmarked_aisle_is_parked_outside_marked_slots() -> None:
    state = ParkingState()
    msg = slot_msg("X01", True, T0)
    on_slot_state(msg, SITE, state, NONE)
    assert due_violations(state, SITES, T0 + timedelta(minutes=9), NONE) == []
    (v,) = due_violations(state, SITES, T0 + timedelta(minutes=10), NONE)
    assert v.type is ViolationType.OUTSIDE_MARKED_SLOTS
    assert v.subject == "X01" and v.evidence == (msg.id,) and "plate unknown" in v.detail


def test_ordinary_bays_never_time_out() -> None:
    state = ParkingState()
    on_slot_state(slot_msg("A01", True, T0), SITE, state, NONE)
    assert due_violations(state, SITES, T0 + timedelta(days=3), NONE) == []


def test_freeing_the_slot_resolves_and_stops_the_clock() -> None:
    state = ParkingState()
    on_slot_state(slot_msg("F02", True, T0), SITE, state, NONE)
    (v,) = due_violations(state, SITES, T0 + timedelta(minutes=3), NONE)
    assert v.open_key is not None
    freed = slot_msg("F02", False, T0 + timedelta(minutes=4))
    (r,) = on_slot_state(freed, SITE, state, frozenset({v.open_key}))
    assert isinstance(r, ResolveViolation) and r.open_key == v.open_key
    assert r.evidence == (freed.id,)
    assert due_violations(state, SITES, T0 + timedelta(minutes=30), NONE) == []


def test_a_late_older_fact_does_not_overwrite_a_newer_one() -> None:
    state = ParkingState()
    on_slot_state(slot_msg("F01", False, T0 + timedelta(minutes=5)), SITE, state, NONE)
    assert on_slot_state(slot_msg("F01", True, T0), SITE, state, NONE) == []
    assert due_violations(state, SITES, T0 + timedelta(minutes=30), NONE) == []


def test_reserved_bay_taken_by_a_known_other_plate() -> None:
    state = ParkingState()
    (v,) = on_slot_state(slot_msg("A09", True, T0, plate="浙HB5678"), SITE, state, NONE)
    assert isinstance(v, OpenViolation) and v.type is ViolationType.RESERVED_SLOT
    assert "浙HA1234" in v.detail and "浙HB5678" in v.detail
    # the assigned car, or a plate not known: no violation (the facts do not show one)
    assert on_slot_state(slot_msg("A09", True, T0, plate="浙HA1234"), SITE, state, NONE) == []
    assert on_slot_state(slot_msg("A10", True, T0), SITE, state, NONE) == []


def test_visitor_overstay_from_gate_decisions_and_pass_expiry() -> None:
    site = SITE.model_copy(
        update={
            "vehicles": SITE.vehicles.model_copy(
                update={
                    "visitor_passes": [
                        SITE.vehicles.visitor_passes[0].model_copy(
                            update={"valid_from": T0, "valid_until": T0 + timedelta(hours=2)}
                        )
                    ]
                }
            )
        }
    )
    sites = {"lakeside": site}
    state = ParkingState()
    entry = decision_msg("浙HK2020", T0 + timedelta(minutes=5))
    assert on_gate_decision(entry, site, state, NONE) == []
    assert due_violations(state, sites, T0 + timedelta(hours=2), NONE) == []
    (v,) = due_violations(state, sites, T0 + timedelta(hours=2, minutes=30), NONE)
    assert v.type is ViolationType.VISITOR_OVERSTAY and v.subject == "浙HK2020"
    assert v.evidence == (entry.id,) and "V0001" in v.detail
    # the next decision for the plate at the (both-way) gate is the exit: resolved
    leave = decision_msg("浙HK2020", T0 + timedelta(hours=3), "refuse", "pass_expired")
    (r,) = on_gate_decision(leave, site, state, frozenset({v.open_key}))
    assert isinstance(r, ResolveViolation) and r.open_key == v.open_key
    assert due_violations(state, sites, T0 + timedelta(hours=5), NONE) == []


def test_residents_are_not_visitors() -> None:
    state = ParkingState()
    on_gate_decision(decision_msg("浙HA1234", T0, reason="resident"), SITE, state, NONE)
    assert state.visitors == {}


def test_shortest_limit_sets_the_watchdog_pace() -> None:
    assert shortest_limit_s(SITES) == 120.0
