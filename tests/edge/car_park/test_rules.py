"""Car-park ledger (visitors, capacity, overstays, plate-to-slot links) and parking rules."""

from __future__ import annotations

from edge.car_park.ledger import AdmitReason, CarParkLedger
from edge.car_park.monitor import CarParkMonitor
from edge.car_park.rules import (
    SlotStatus,
    ViolationKind,
    ViolationLatch,
    ZoneRule,
    reserved_slot_violations,
    timed_zone_violations,
    visitor_overstay_violations,
)
from models.site import load_site_config

ZONES = {
    "general": ZoneRule("general"),
    "reserved": ZoneRule("reserved"),
    "visitor": ZoneRule("visitor"),
    "fire-lane": ZoneRule("fire_lane", max_minutes=2),
    "no-parking": ZoneRule("no_parking"),  # default 10 min
    "aisle": ZoneRule("unmarked", max_minutes=5),
}


# ---------------------------------------------------------------- ledger


def test_visitor_quota_and_capacity_refuse_visitors_only():
    ledger = CarParkLedger(capacity=4, visitor_quota=2)
    assert ledger.may_admit_visitor() == (True, AdmitReason.OK)
    ledger.enter("浙HK2020", 0, visitor=True, pass_until=3600)
    ledger.enter("浙HM3030", 10, visitor=True, pass_until=3600)
    assert ledger.visitors_inside() == 2
    assert ledger.may_admit_visitor() == (False, AdmitReason.VISITOR_QUOTA_FULL)
    ledger.exit("浙HK2020", 100)
    assert ledger.may_admit_visitor() == (True, AdmitReason.OK)
    ledger.enter("浙HA1234", 110)
    ledger.enter("浙HB5678", 120)
    ledger.enter("浙HC2468", 130)
    assert len(ledger.inside()) == 4
    assert ledger.may_admit_visitor() == (False, AdmitReason.CAPACITY_FULL)


def test_no_free_bay_refuses_visitors():
    ledger = CarParkLedger(capacity=20, visitor_quota=5)
    assert ledger.may_admit_visitor(free_slots=0) == (False, AdmitReason.NO_FREE_SLOT)
    assert ledger.may_admit_visitor(free_slots=3) == (True, AdmitReason.OK)


def test_overstay_after_pass_expiry_with_grace():
    ledger = CarParkLedger(capacity=10, visitor_quota=2)
    ledger.enter("浙HK2020", 0, visitor=True, pass_id="V0001", pass_until=600)
    ledger.enter("浙HA1234", 0)  # residents have no pass: never overstay
    assert ledger.overstays(500) == []
    assert ledger.overstays(650, grace_s=60) == []
    (o,) = ledger.overstays(700, grace_s=60)
    assert o.plate == "浙HK2020" and o.pass_id == "V0001" and o.overstay_s == 100
    ledger.exit("浙HK2020", 800)
    assert ledger.overstays(900) == []


def test_exit_without_entry_and_entry_without_exit_are_recorded():
    ledger = CarParkLedger(capacity=10, visitor_quota=2)
    assert ledger.exit("浙HX9999", 5) is None
    assert ledger.unmatched_exits == [("浙HX9999", 5)]
    ledger.enter("浙HA1234", 10)
    ledger.enter("浙HA1234", 5000)
    assert [v.exit_missed for v in ledger.history] == [True]
    assert len(ledger.inside()) == 1


def test_slot_is_linked_to_the_earliest_recent_arrival_or_its_reserved_owner():
    ledger = CarParkLedger(capacity=10, visitor_quota=2, min_drive_s=5, max_drive_s=300)
    ledger.enter("浙HB5678", 100)
    ledger.enter("浙HA1234", 110)
    ledger.enter("浙HC2468", 120)
    assert ledger.park("A09", 130, prefer=["浙HA1234"]) == "浙HA1234"
    assert ledger.park("B01", 140) == "浙HB5678"
    assert ledger.plate_in("B01") == "浙HB5678"
    # Too soon after entry (min_drive_s) and long-parked cars are not candidates.
    ledger.enter("浙HF13579", 200)
    assert ledger.park("B02", 202) == "浙HC2468"
    assert ledger.park("B03", 203) is None
    assert ledger.unpark("B01", 500) == "浙HB5678"
    assert ledger.plate_in("B01") is None


# ---------------------------------------------------------------- rules


def status(slot, zone, since, occupied=True, plate=None):
    return SlotStatus(slot, zone, occupied, since, plate, (10, 20, 30, 40))


def test_fire_lane_violation_only_after_its_limit():
    s = [status("F01", "fire-lane", since=1000)]
    assert timed_zone_violations(s, ZONES, 1000 + 119) == []
    (v,) = timed_zone_violations(s, ZONES, 1000 + 120)
    assert v.kind is ViolationKind.FIRE_LANE and v.slot == "F01" and v.start == 1000
    assert v.duration_s == 120 and v.box == (10, 20, 30, 40)


def test_no_parking_uses_default_limit_and_unmarked_its_own():
    s = [status("N01", "no-parking", since=0), status("L01", "aisle", since=0)]
    assert [v.kind for v in timed_zone_violations(s, ZONES, 299)] == []
    assert [v.kind for v in timed_zone_violations(s, ZONES, 300)] == [
        ViolationKind.OUTSIDE_MARKED_SLOTS
    ]
    kinds = {v.kind for v in timed_zone_violations(s, ZONES, 600)}
    assert kinds == {ViolationKind.NO_PARKING, ViolationKind.OUTSIDE_MARKED_SLOTS}


def test_free_or_ordinary_slots_are_never_timed_violations():
    s = [
        status("F01", "fire-lane", since=0, occupied=False),
        status("A01", "general", since=0),
        status("X01", "unknown-zone", since=0),
    ]
    assert timed_zone_violations(s, ZONES, 10_000) == []


def test_reserved_slot_needs_a_known_plate_not_assigned_to_it():
    reserved = {"A09": ["浙HA1234"]}
    owner = [status("A09", "reserved", 0, plate="浙HA1234")]
    unknown = [status("A09", "reserved", 0, plate=None)]
    other = [status("A09", "reserved", 0, plate="浙HB5678")]
    assert reserved_slot_violations(owner, reserved, 1000) == []
    assert reserved_slot_violations(unknown, reserved, 1000) == []
    assert reserved_slot_violations(other, reserved, 30) == []  # grace period
    (v,) = reserved_slot_violations(other, reserved, 1000)
    assert v.kind is ViolationKind.RESERVED_SLOT and v.plate == "浙HB5678"
    assert "浙HA1234" in v.detail


def test_visitor_overstay_candidate_carries_plate_slot_and_box():
    ledger = CarParkLedger(capacity=10, visitor_quota=2)
    ledger.enter("浙HK2020", 0, visitor=True, pass_id="V0001", pass_until=600)
    ledger.park("B09", 60)
    (v,) = visitor_overstay_violations(ledger.overstays(900), 900, {"B09": (1, 2, 3, 4)})
    assert v.kind is ViolationKind.VISITOR_OVERSTAY
    assert (v.plate, v.slot, v.box, v.start, v.duration_s) == (
        "浙HK2020",
        "B09",
        (1, 2, 3, 4),
        600,
        300,
    )


def test_latch_reports_each_episode_once():
    latch = ViolationLatch()
    s = [status("F01", "fire-lane", since=1000)]
    assert len(latch.new(timed_zone_violations(s, ZONES, 1200))) == 1
    assert latch.new(timed_zone_violations(s, ZONES, 1300)) == []
    # A new parking episode in the same lane is a new violation.
    s2 = [status("F01", "fire-lane", since=5000)]
    assert len(latch.new(timed_zone_violations(s2, ZONES, 5200))) == 1


def test_monitor_from_the_example_site_config():
    cfg = load_site_config()
    mon = CarParkMonitor.from_config(cfg.car_park)
    assert mon.zones["fire-lane"] == ZoneRule("fire_lane", 2)
    assert mon.reserved_for["A09"] == ("浙HA1234",)
    assert mon.ledger.capacity == cfg.car_park.capacity
    assert mon.frame_size == (1280, 720)
    # No slot state known yet: only the ledger decides.
    assert mon.may_admit_visitor() == (True, AdmitReason.OK)
