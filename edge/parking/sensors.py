"""Ground-sensor occupancy: raw magnetometer readings -> occupied/free per bay.

A car's steel distorts the earth's field by tens of microtesla; the sensor's own offset
drifts by a few with time and temperature, and a car in the next bay adds a few more.
So the decision is made on the deviation from a *baseline* that recalibrates itself:

- a median of the last three readings removes single-sample spikes;
- while the bay is free the baseline follows the readings slowly (EMA), and the reading's
  dependence on temperature is learned by exponentially weighted regression, so that while
  a car stands on the sensor for hours the baseline keeps moving with the temperature;
- hysteresis: occupied above ``on_ut``, free below ``off_ut``; a car leaving is also
  recognised by the deviation falling to a small share of the level it had while parked
  (drift accumulated during a long stay may keep it above ``off_ut``), and the baseline is
  then re-anchored to the empty reading.
Time debounce is the slot state machine's job, not this one's.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class SensorObservation:
    occupied: bool
    deviation_ut: float
    score: float  # 0..1, deviation mapped around the thresholds


class SensorOccupancy:
    """One bay's magnetometer. Feed readings in time order with ``update``."""

    def __init__(
        self,
        sensor_id: str,
        *,
        on_ut: float = 10.0,
        off_ut: float = 6.0,
        release_ratio: float = 0.35,
        baseline_tau_s: float = 600.0,
        slope_tau_s: float = 8 * 3600.0,
    ) -> None:
        if off_ut >= on_ut:
            raise ValueError("off_ut must be below on_ut (hysteresis)")
        self.sensor_id = sensor_id
        self.on_ut = on_ut
        self.off_ut = off_ut
        self.release_ratio = release_ratio
        self.baseline_tau_s = baseline_tau_s
        self.slope_tau_s = slope_tau_s
        self.occupied = False
        self._recent: deque[np.ndarray] = deque(maxlen=3)
        self._baseline: np.ndarray | None = None
        self._baseline_temp = 0.0
        self._level = 0.0  # typical deviation while occupied
        self._last_t: float | None = None
        # Exponentially weighted sums for reading ~ temperature regression.
        self._w = 0.0
        self._st = 0.0
        self._stt = 0.0
        self._sv = np.zeros(3)
        self._stv = np.zeros(3)

    @property
    def baseline(self) -> np.ndarray | None:
        return None if self._baseline is None else self._baseline.copy()

    def slope(self) -> np.ndarray:
        """Learned microtesla per degree C per axis (zero until the temperature has varied)."""
        if self._w <= 0:
            return np.zeros(3)
        mean_t = self._st / self._w
        var_t = self._stt / self._w - mean_t**2
        if var_t < 2.0:  # not enough temperature spread yet to tell
            return np.zeros(3)
        cov = self._stv / self._w - mean_t * (self._sv / self._w)
        return cov / var_t

    def expected(self, temp_c: float) -> np.ndarray:
        assert self._baseline is not None
        return self._baseline + self.slope() * (temp_c - self._baseline_temp)

    def update(self, x: float, y: float, z: float, temp_c: float, t: float) -> SensorObservation:
        raw = np.array([x, y, z], float)
        self._recent.append(raw)
        value = np.median(np.stack(self._recent), axis=0)
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        if self._baseline is None:  # installed over an empty bay
            self._baseline = value.copy()
            self._baseline_temp = temp_c
        deviation = float(np.linalg.norm(value - self.expected(temp_c)))
        if self.occupied:
            self._level += min(1.0, dt / 30.0) * (deviation - self._level)
            if deviation < self.off_ut:
                self.occupied = False
            elif deviation < self.release_ratio * self._level and deviation < self.on_ut:
                self.occupied = False
                self._reanchor(value, temp_c)  # leftover is drift, not a car
                deviation = 0.0
        elif deviation >= self.on_ut:
            self.occupied = True
            self._level = deviation
        if not self.occupied:
            self._learn(value, temp_c, dt)
        score = 1.0 / (1.0 + math.exp(-(deviation - (self.on_ut + self.off_ut) / 2)))
        return SensorObservation(self.occupied, deviation, score)

    def _reanchor(self, value: np.ndarray, temp_c: float) -> None:
        self._baseline = value.copy()
        self._baseline_temp = temp_c

    def _learn(self, value: np.ndarray, temp_c: float, dt: float) -> None:
        assert self._baseline is not None
        a = 1.0 - math.exp(-dt / self.baseline_tau_s) if dt > 0 else 0.05
        # Follow the reading, keeping the baseline referenced to the current temperature.
        self._baseline = self.expected(temp_c) + a * (value - self.expected(temp_c))
        self._baseline_temp = temp_c
        keep = math.exp(-dt / self.slope_tau_s) if dt > 0 else 1.0
        self._w = keep * self._w + 1.0
        self._st = keep * self._st + temp_c
        self._stt = keep * self._stt + temp_c * temp_c
        self._sv = keep * self._sv + value
        self._stv = keep * self._stv + temp_c * value


class SensorBank:
    """All bays' sensors; ``update`` takes readings with ``sensor, x, y, z, temp_c, t``."""

    def __init__(self, sensor_ids: list[str], **kwargs: float) -> None:
        self.sensors = {sid: SensorOccupancy(sid, **kwargs) for sid in sensor_ids}

    def update(self, readings) -> dict[str, SensorObservation]:
        out = {}
        for r in readings:
            sensor = self.sensors.get(r.sensor)
            if sensor is not None:
                out[r.sensor] = sensor.update(r.x, r.y, r.z, r.temp_c, r.t)
        return out
