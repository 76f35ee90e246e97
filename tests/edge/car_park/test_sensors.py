"""Ground-sensor occupancy: baseline, hysteresis, drift, neighbours, spikes; and the
simulated sensors end to end through the debounce."""

from __future__ import annotations

import numpy as np
import pytest

from edge.car_park.sensors import SensorBank, SensorOccupancy
from edge.car_park.slots import SENSOR_DEBOUNCE, SlotTracker
from simulators.carpark import default_site_slots, random_car
from simulators.slot_sensors import SlotSensorSim

EARTH = np.array([20.0, 3.0, 44.0])


def at(dx: float, dy: float, dz: float) -> np.ndarray:
    """The earth field plus an offset (uT)."""
    return EARTH + np.array([dx, dy, dz])


def run(sensor: SensorOccupancy, values, t0=0.0, dt=5.0):
    out = []
    for i, v in enumerate(values):
        out.append(sensor.update(*v, temp_c=20.0, t=t0 + i * dt))
    return out


def test_hysteresis_between_off_and_on_thresholds():
    s = SensorOccupancy("A01", on_ut=10, off_ut=6)
    run(s, [EARTH] * 5)
    car = at(0, 0, 12.0)
    assert run(s, [car] * 4, t0=100)[-1].occupied
    # 8 uT: between the thresholds, stays occupied...
    assert run(s, [at(0, 0, 8.0)] * 4, t0=200)[-1].occupied
    # ...5 uT: free.
    assert not run(s, [at(0, 0, 5.0)] * 4, t0=300)[-1].occupied


def test_thresholds_must_leave_a_band():
    with pytest.raises(ValueError):
        SensorOccupancy("A01", on_ut=6, off_ut=6)


def test_single_spike_is_rejected_by_the_median():
    s = SensorOccupancy("A01")
    values = [EARTH] * 5 + [at(15, -10, 30)] + [EARTH] * 5
    assert not any(o.occupied for o in run(s, values))


def test_slow_drift_while_free_is_absorbed_by_the_baseline():
    s = SensorOccupancy("A01")
    hours = 8
    values = [at(0, 0, 12.0 * i / (hours * 720)) for i in range(hours * 720)]
    obs = run(s, values, dt=5.0)
    assert not any(o.occupied for o in obs)
    assert obs[-1].deviation_ut < 2.0


def test_neighbour_car_is_not_occupancy():
    s = SensorOccupancy("A01")
    run(s, [EARTH] * 10)
    assert not any(o.occupied for o in run(s, [at(1.5, 0.5, 4.0)] * 50, t0=100))


def test_car_leaving_after_hours_of_drift_is_recognised():
    s = SensorOccupancy("A01")
    run(s, [EARTH] * 10)
    car = np.array([3.0, -4.0, 28.0])
    # Parked 6 h while the sensor's offset drifts by 9 uT: the old baseline is useless.
    n = 6 * 720
    parked = [EARTH + car + [0, 0, 9.0 * i / n] for i in range(n)]
    assert all(o.occupied for o in run(s, parked, t0=100)[3:])
    after = run(s, [at(0, 0, 9.0)] * 5, t0=100 + n * 5)
    assert not after[-1].occupied
    assert after[-1].deviation_ut < 3.0
    # And the next car is seen against the re-anchored baseline.
    assert run(s, [at(0, 0, 9.0) + car] * 4, t0=200 + n * 5)[-1].occupied


def test_simulated_sensors_through_debounce_match_truth():
    """Real pipeline on simulated raw readings: noise, drift, temperature, neighbours,
    spikes and cars driving over bays; 3 h at one reading per 10 s."""
    slots = default_site_slots()
    sim = SlotSensorSim(slots, seed=21)
    bank = SensorBank([s.id for s in slots])
    tracker = SlotTracker({s.id: s.zone for s in slots}, SENSOR_DEBOUNCE, source="sensor")
    rng = np.random.default_rng(21)
    occ = {s.id: None for s in slots}
    raw_errors = debounced_errors = checked = 0
    last_change: dict[str, float] = {}
    for step in range(0, 3 * 3600, 10):
        t = 8 * 3600.0 + step
        if rng.random() < 0.1:
            sid = slots[int(rng.integers(len(slots)))].id
            occ[sid] = None if occ[sid] else random_car(rng)
            last_change[sid] = t
        passing = [s.id for s in slots if rng.random() < 0.01]
        obs = bank.update(sim.read(t, occ, passing))
        tracker.update(obs, t)
        for sid, o in obs.items():
            truth = occ[sid] is not None
            raw_errors += o.occupied != truth
            if t - last_change.get(sid, -1e9) > 45 and t > 8 * 3600 + 60:
                checked += 1
                debounced_errors += tracker.state(sid) != truth
    n = len(slots) * 3 * 360
    assert raw_errors / n < 0.02
    assert debounced_errors == 0, f"{debounced_errors} of {checked} debounced slot-readings wrong"
