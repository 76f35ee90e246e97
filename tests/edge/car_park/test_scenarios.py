"""Scenarios end to end through the car-park monitor (no broker): rendered frames or
simulated sensor readings in, debounced slot changes and violation candidates out."""

from __future__ import annotations

import cv2
import numpy as np

from edge.car_park.ledger import AdmitReason
from edge.car_park.monitor import CarParkMonitor
from edge.car_park.rules import ViolationKind, ZoneRule
from models.plate import plate_error
from recognition.parking.detector import SlotOccupancyDetector
from simulators.carpark import (
    CarParkRenderer,
    Scenario,
    default_site_aisle_regions,
    default_site_slots,
    fire_lane_scenario,
    reserved_taken_scenario,
    rush_hour_scenario,
    visitor_overstay_scenario,
)
from simulators.slot_sensors import SlotSensorSim, scenario_readings

SLOTS = default_site_slots() + default_site_aisle_regions()
ZONES = {
    "general": ZoneRule("general"),
    "reserved": ZoneRule("reserved"),
    "visitor": ZoneRule("visitor"),
    "fire-lane": ZoneRule("fire_lane", max_minutes=2),
    "no-parking": ZoneRule("no_parking", max_minutes=10),
    "aisle": ZoneRule("unmarked", max_minutes=10),
}


def run_camera(sc: Scenario, seed: int):
    renderer = CarParkRenderer(sc.slots, seed=seed)
    det = SlotOccupancyDetector(sc.slots)
    det.calibrate(renderer.render({}, t=sc.t0 - 3600, lighting="day").image)
    mon = CarParkMonitor(sc.slots, ZONES, capacity=20, visitor_quota=2, detector=det)
    changes, violations = [], []
    for frame, update in sc.play(renderer, mon):
        changes += [(c, frame.occupied[c.slot]) for c in update.changes]
        violations += update.violations
    return mon, changes, violations


def later_changes(changes, sc: Scenario):
    """State changes after every slot's first state was established."""
    return [(c, truth) for c, truth in changes if c.since > sc.t0 + 15]


def test_fire_lane_car_becomes_one_violation_with_evidence():
    sc = fire_lane_scenario(SLOTS, park_after_s=20, stay_s=140, duration_s=180, step_s=2.0)
    _, changes, violations = run_camera(sc, seed=51)
    assert all(c.occupied == truth for c, truth in changes), "a wrong state was published"
    assert [(c.slot, c.occupied) for c, _ in later_changes(changes, sc)] == [
        ("F01", True),
        ("F01", False),
    ]
    (ev,) = violations
    v = ev.candidate
    assert v.kind is ViolationKind.FIRE_LANE and v.slot == "F01"
    assert v.plate == "浙HC2468"  # linked from the gate entry
    assert abs(v.start - (sc.t0 + 20)) <= 4 and v.duration_s >= 120
    crop = cv2.imdecode(np.frombuffer(ev.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert crop is not None and crop.shape[0] > 40


def test_reserved_bay_taken_at_night_is_a_violation_with_the_plate():
    sc = reserved_taken_scenario(SLOTS, duration_s=170, step_s=2.0)
    _, changes, violations = run_camera(sc, seed=52)
    assert all(c.occupied == truth for c, truth in changes)
    assert [(c.slot, c.occupied) for c, _ in later_changes(changes, sc)] == [("A09", True)]
    assert [(e.candidate.kind, e.candidate.slot, e.candidate.plate) for e in violations] == [
        (ViolationKind.RESERVED_SLOT, "A09", "浙HB5678")
    ]


def test_visitor_overstay_and_visitor_quota_at_the_gate():
    sc = visitor_overstay_scenario(SLOTS, pass_s=60, duration_s=150, step_s=2.0)
    mon, changes, violations = run_camera(sc, seed=53)
    assert all(c.occupied == truth for c, truth in changes)
    kinds = [(e.candidate.kind, e.candidate.plate, e.candidate.slot) for e in violations]
    assert kinds == [(ViolationKind.VISITOR_OVERSTAY, "浙HK2020", "B09")]
    # One visitor inside, quota 2: one more may come, then the gate refuses.
    assert mon.may_admit_visitor() == (True, AdmitReason.OK)
    mon.on_gate("浙HM3030", sc.t0 + 200, "in", visitor=True, pass_until=sc.t0 + 4000)
    assert mon.may_admit_visitor() == (False, AdmitReason.VISITOR_QUOTA_FULL)


def test_rush_hour_has_no_false_flips_and_no_violations():
    sc = rush_hour_scenario(SLOTS, duration_s=200, step_s=2.0)
    assert all(plate_error(g.plate) is None for g in sc.gate_events)
    _, changes, violations = run_camera(sc, seed=54)
    wrong = [(c.slot, c.occupied, c.since - sc.t0) for c, truth in changes if c.occupied != truth]
    assert wrong == []
    moved = {p.slot for p in sc.parkings if sc.t0 < p.start < sc.t0 + 170}
    moved |= {p.slot for p in sc.parkings if p.end and sc.t0 < p.end < sc.t0 + 170}
    changed = {c.slot for c, _ in later_changes(changes, sc)}
    assert changed == moved  # every real arrival/departure, and nothing else
    assert violations == []


def test_fire_lane_violation_from_ground_sensors():
    sc = fire_lane_scenario(SLOTS, park_after_s=20, stay_s=200, duration_s=240, step_s=5.0)
    sim = SlotSensorSim(sc.slots, seed=55)
    mon = CarParkMonitor(sc.slots, ZONES, capacity=20, visitor_quota=2, source="sensor")
    violations = []
    for g in sc.gate_events:
        mon.on_gate(g.plate, g.t, g.direction)
    # The sensors were installed (baselines learned) over empty bays.
    for t in range(3):
        mon.on_readings(sim.read(sc.t0 - 100 + t, {}), sc.t0 - 100 + t)
    for t, readings in scenario_readings(sc, sim):
        update = mon.on_readings(readings, t)
        violations += update.violations
    assert [(e.candidate.kind, e.candidate.slot, e.candidate.plate) for e in violations] == [
        (ViolationKind.FIRE_LANE, "F01", "浙HC2468")
    ]
    assert violations[0].jpeg is None  # no camera, no snapshot
