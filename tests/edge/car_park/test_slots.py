"""Slot state machine (debounce) and tracker snapshots."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.car_park.monitor import slot_state
from edge.car_park.slots import DebounceConfig, SlotStateMachine, SlotTracker
from models.messages import Kind, make_message, parse_message

CFG = DebounceConfig(on_after_s=8.0, off_after_s=10.0)


def feed(machine: SlotStateMachine, pattern: list[bool], t0: float = 0.0, dt: float = 1.0):
    changes = []
    for i, value in enumerate(pattern):
        change = machine.observe(value, t0 + i * dt)
        if change is not None:
            changes.append(change)
    return changes


def test_first_state_is_established_then_stays_quiet():
    m = SlotStateMachine("A01", CFG)
    changes = feed(m, [False] * 30)
    assert len(changes) == 1
    assert changes[0].occupied is False and changes[0].since == 0.0
    assert m.occupied is False


def test_walker_crossing_a_free_slot_does_not_flip_it():
    m = SlotStateMachine("A01", CFG, initial=False, t0=0.0)
    # 3 s of "occupied" (a person crossing), twice, separated by 4 s of free.
    pattern = [False] * 5 + [True] * 3 + [False] * 4 + [True] * 3 + [False] * 20
    assert feed(m, pattern) == []
    assert m.occupied is False


def test_car_arriving_flips_after_on_delay_with_since_at_arrival():
    m = SlotStateMachine("A01", CFG, initial=False, t0=0.0)
    changes = feed(m, [False] * 10 + [True] * 30)
    assert len(changes) == 1
    change = changes[0]
    assert change.occupied is True and change.since == 10.0 and change.source == "camera"
    assert m.since == 10.0


def test_single_glitch_inside_an_arrival_only_delays_it_a_little():
    m = SlotStateMachine("A01", CFG, initial=False, t0=0.0)
    pattern = [True] * 5 + [False] + [True] * 20
    changes = feed(m, pattern)
    assert [c.occupied for c in changes] == [True]
    assert changes[0].since == 0.0


def test_passing_car_over_an_occupied_slot_and_real_departure():
    m = SlotStateMachine("B01", CFG, initial=True, t0=0.0)
    # A false "free" reading for 4 s (headlights washing the car out) does not flip...
    assert feed(m, [True] * 5 + [False] * 4 + [True] * 10) == []
    # ...a departure does, after off_after_s.
    changes = feed(m, [False] * 15, t0=100.0)
    assert len(changes) == 1 and changes[0].occupied is False and changes[0].since == 100.0


def test_long_gap_between_observations_counts_as_max_gap_only():
    m = SlotStateMachine("A01", CFG, initial=False, t0=0.0)
    assert m.observe(True, 0.0) is None
    assert m.observe(True, 60.0) is None  # one frame after a minute of nothing: 5 s of evidence
    assert m.occupied is False


def test_confidence_is_the_mean_score_of_the_change():
    m = SlotStateMachine("A01", CFG, initial=False, t0=0.0)
    change = None
    for i in range(12):
        change = m.observe(True, float(i), score=0.8) or change
    assert change is not None and abs(change.confidence - 0.8) < 1e-6


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=30))
def test_occlusions_shorter_than_on_delay_never_flip(bursts):
    """Bursts of at most 4 s "occupied", each followed by at least as long free."""
    m = SlotStateMachine("A01", CFG, initial=False, t0=0.0)
    pattern: list[bool] = []
    for b in bursts:
        pattern += [True] * b + [False] * b
    assert feed(m, pattern) == []


def test_tracker_snapshot_counts_per_zone_and_is_periodic():
    zones = {"A01": "general", "A02": "general", "F01": "fire-lane", "V01": "visitor"}
    tr = SlotTracker(zones, CFG, snapshot_every_s=60.0)
    changes = []
    for i in range(12):
        obs = {"A01": True, "A02": False, "F01": False, "V01": True, "ZZZ": True}
        changes += tr.update(obs, float(i))
    assert {(c.slot, c.occupied) for c in changes} == {
        ("A01", True),
        ("A02", False),
        ("F01", False),
        ("V01", True),
    }
    snap = tr.snapshot(12.0)
    assert snap.occupied == 2 and snap.free == 2 and snap.unknown == 0
    assert snap.zones["general"].occupied == 1 and snap.zones["general"].free == 1
    assert snap.zones["fire-lane"].free == 1
    assert tr.free_in(["general", "visitor"]) == 1
    assert tr.snapshot_due(100.0) is not None
    assert tr.snapshot_due(130.0) is None
    assert tr.snapshot_due(160.0) is not None


def test_tracker_reports_unknown_before_first_state():
    tr = SlotTracker({"A01": "general"}, CFG)
    tr.update({"A01": True}, 0.0)
    assert tr.snapshot(0.0).unknown == 1


def test_slot_change_becomes_a_valid_slot_state_message():
    m = SlotStateMachine("A09", CFG, source="sensor", initial=False, t0=0.0)
    change = None
    for i in range(12):
        change = m.observe(True, 1_800_000_000.0 + i, score=0.9) or change
    assert change is not None
    msg = make_message(
        Kind.SLOT_STATE,
        site="lakeside",
        device="edge-carpark",
        payload=slot_state(change, "浙HA1234"),
    )
    back = parse_message(msg.to_json())
    assert back.payload.slot == "A09" and back.payload.occupied is True
    assert back.payload.source == "sensor" and back.payload.plate == "浙HA1234"
    assert back.payload.since.timestamp() == 1_800_000_000.0
