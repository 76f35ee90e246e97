"""Ground-sensor occupancy: raw magnetometer readings -> occupied/free per bay.

A car's steel distorts the earth's field by tens of microtesla; the sensor's own offset
drifts by a few with time and temperature, and a car in the next bay adds a few more.
So the decision is made on the deviation from a *baseline* that recalibrates itself:

- a median of the last three readings removes single-sample spikes;
- while the bay is free the baseline follows the readings slowly (EMA), absorbing drift,
  temperature offset and parked neighbours;
- hysteresis: occupied above ``on_ut``, free below ``off_ut``;
- while a car stands on the sensor the baseline cannot be followed, and hours of drift may
  keep the deviation above ``off_ut`` after it leaves. So the car's own signature (the
  step it caused, measured once it has settled) is remembered; the reading the sensor would
  give without the car is the parked reading minus that signature, drift included. A
  reading close to it means the car left, whatever the old baseline says, and the baseline
  is re-anchored there (not to the one reading, which may be disturbed).

A regression of the reading on temperature was tried and dropped: drift over a day is
correlated with the daily temperature cycle, so the learned slope was wrong and made
things worse. Time debounce is the slot state machine's job, not this one's.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class SensorObservation:
    occupied: bool
    deviation_ut: float
    score: float  # 0..1, deviation mapped around the thresholds


class SensorOccupancy:
    """One bay's magnetometer, installed over an empty bay. Feed readings in time order."""

    def __init__(
        self,
        sensor_id: str,
        *,
        on_ut: float = 12.0,
        off_ut: float = 7.0,
        release_ratio: float = 0.4,
        baseline_tau_s: float = 600.0,
        settle_tau_s: float = 30.0,
        settle_s: float = 120.0,
    ) -> None:
        if off_ut >= on_ut:
            raise ValueError("off_ut must be below on_ut (hysteresis)")
        self.sensor_id = sensor_id
        self.on_ut = on_ut
        self.off_ut = off_ut
        self.release_ratio = release_ratio
        self.baseline_tau_s = baseline_tau_s
        self.settle_tau_s = settle_tau_s
        self.settle_s = settle_s
        self._arrived_at = 0.0
        self.occupied = False
        self._recent: deque[np.ndarray] = deque(maxlen=3)
        self._baseline: np.ndarray | None = None
        self._arrival_step = np.zeros(3)  # reading change when the car arrived
        self._parked_value = np.zeros(3)  # slow average of the reading while occupied
        self._last_t: float | None = None

    @property
    def baseline(self) -> np.ndarray | None:
        return None if self._baseline is None else self._baseline.copy()

    def update(self, x: float, y: float, z: float, temp_c: float, t: float) -> SensorObservation:
        """``temp_c`` is accepted for the record; the baseline tracks temperature itself."""
        self._recent.append(np.array([x, y, z], float))
        value = _median3(self._recent)
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        if self._baseline is None:
            warming_up = len(self._recent) < (self._recent.maxlen or 0)
            if warming_up:  # one reading may be a spike
                return SensorObservation(False, 0.0, 0.0)
            self._baseline = value.copy()
        offset = value - self._baseline
        deviation = float(np.linalg.norm(offset))
        if self.occupied:
            # What the sensor would read now without the car: drift included.
            empty = self._parked_value - self._arrival_step
            tolerance = max(
                self.off_ut, self.release_ratio * float(np.linalg.norm(self._arrival_step))
            )
            if deviation < self.off_ut:
                self.occupied = False
            elif float(np.linalg.norm(value - empty)) < tolerance:
                self.occupied = False  # the car's own signature went away: the rest is drift
                self._baseline = empty
                deviation = float(np.linalg.norm(value - empty))
            else:
                a = 1.0 - math.exp(-dt / self.settle_tau_s) if dt > 0 else 0.0
                self._parked_value += a * (value - self._parked_value)
                if t - self._arrived_at <= self.settle_s:  # the car is still rolling in
                    self._arrival_step = self._parked_value - self._baseline
        elif deviation >= self.on_ut:
            self.occupied = True
            self._arrived_at = t
            self._arrival_step = offset.copy()
            self._parked_value = value.copy()
        if not self.occupied:
            a = 1.0 - math.exp(-dt / self.baseline_tau_s) if dt > 0 else 0.0
            self._baseline += a * (value - self._baseline)
        mid = (self.on_ut + self.off_ut) / 2
        score = 1.0 / (1.0 + math.exp(-(deviation - mid)))
        return SensorObservation(self.occupied, deviation, score)


def _median3(recent: deque[np.ndarray]) -> np.ndarray:
    """Per-axis median of up to three vectors (cheaper than np.median on a stack)."""
    if len(recent) < 3:
        return recent[-1].copy()
    a, b, c = recent
    median: np.ndarray = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
    return median


class MagReadingLike(Protocol):
    """A raw magnetometer reading (simulators.slot_sensors.MagReading fits)."""

    sensor: str
    t: float
    x: float
    y: float
    z: float
    temp_c: float


class SensorBank:
    """All bays' sensors; readings for unknown sensors are ignored."""

    def __init__(self, sensor_ids: list[str], **kwargs: float) -> None:
        self.sensors = {sid: SensorOccupancy(sid, **kwargs) for sid in sensor_ids}

    def update(self, readings: Iterable[MagReadingLike]) -> dict[str, SensorObservation]:
        out = {}
        for r in readings:
            sensor = self.sensors.get(r.sensor)
            if sensor is not None:
                out[r.sensor] = sensor.update(r.x, r.y, r.z, r.temp_c, r.t)
        return out
