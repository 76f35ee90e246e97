"""Simulated geomagnetic slot sensors (one 3-axis magnetometer under each bay).

A reading is the local field in microtesla: the earth's field at that spot, plus a slow
drift, a temperature offset (daily cycle, per-sensor coefficient), Gaussian noise and rare
spikes, plus the distortion of a car's steel: large for a car over the sensor, a few
microtesla for a car in a neighbouring bay, and a transient one for a car driving past.
Readings are a pure function of (seed, sensor, t, occupancy), so runs are reproducible.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from recognition.parking.geometry import SlotLike
from simulators.carpark import CarSpec, Scenario


@dataclass(frozen=True, slots=True)
class MagReading:
    sensor: str  # slot id
    t: float
    x: float
    y: float
    z: float
    temp_c: float


@dataclass(frozen=True)
class _Sensor:
    base: np.ndarray  # earth field at the spot (uT)
    temp_coef: np.ndarray  # uT per degree C
    temp_offset: float  # this sensor's housing runs warmer/cooler
    drift_amp: np.ndarray  # uT
    drift_period: np.ndarray  # s
    drift_phase: np.ndarray


NEIGHBOUR_COUPLING = 0.08  # share of a neighbouring car's signature seen by a sensor
PASSING_COUPLING = 0.35  # a car driving over the bay's front edge


class SlotSensorSim:
    """Readings for every slot; neighbours are the two nearest bays in the same row."""

    def __init__(
        self,
        slots: Sequence[SlotLike],
        seed: int = 0,
        *,
        noise_ut: float = 0.6,
        spike_rate: float = 0.002,
        drift_ut: float = 1.5,
    ) -> None:
        self.ids = [s.id for s in slots]
        self.seed = seed
        self.noise_ut = noise_ut
        self.spike_rate = spike_rate
        rng = np.random.default_rng(seed)
        self._sensors = {
            sid: _Sensor(
                base=np.array([20.0, 3.0, 44.0]) + rng.normal(0, 3.0, 3),
                temp_coef=rng.normal(0, 0.12, 3),
                temp_offset=float(rng.normal(0, 1.5)),
                drift_amp=np.abs(rng.normal(0, drift_ut, 3)),
                drift_period=rng.uniform(3 * 3600, 12 * 3600, 3),
                drift_phase=rng.uniform(0, 2 * math.pi, 3),
            )
            for sid in self.ids
        }
        self.neighbours = _neighbours(slots)

    @staticmethod
    def temperature(t: float) -> float:
        """Ground temperature: a daily cycle peaking mid-afternoon (t in seconds of a day)."""
        return 16.0 + 9.0 * math.sin(2 * math.pi * (t - 9 * 3600) / 86400)

    @staticmethod
    def signature(spec: CarSpec) -> np.ndarray:
        """A car's field distortion over the sensor (uT): depends on its size and where its
        engine block sits; deterministic per car."""
        h = zlib.crc32(repr((spec.color, round(spec.length, 3), spec.plate)).encode())
        rng = np.random.default_rng(h)
        strength = 18.0 + 40.0 * rng.random() * spec.length
        direction = np.array([rng.normal(0, 0.4), rng.normal(0, 0.4), 1.0])
        direction *= -1 if rng.random() < 0.3 else 1  # some cars reduce the vertical field
        return strength * direction / np.linalg.norm(direction)

    def read(
        self,
        t: float,
        occupancy: Mapping[str, CarSpec | None],
        passing: Iterable[str] = (),
    ) -> list[MagReading]:
        """One reading per sensor at time ``t``; ``passing`` names bays a car drives over."""
        passing_set = set(passing)
        temp_air = self.temperature(t)
        n = len(self.ids)
        rng = np.random.default_rng([self.seed, int(t * 1000) & 0xFFFFFFFF])
        noise = rng.normal(0, self.noise_ut, (n, 3))
        spikes = rng.random(n) < self.spike_rate
        noise[spikes] += rng.normal(0, 8.0, (int(spikes.sum()), 3))  # radio interference
        out = []
        for i, sid in enumerate(self.ids):
            s = self._sensors[sid]
            temp = temp_air + s.temp_offset
            drift = s.drift_amp * np.sin(2 * math.pi * t / s.drift_period + s.drift_phase)
            field = s.base + drift + s.temp_coef * (temp - 20.0) + noise[i]
            car = occupancy.get(sid)
            if car is not None:
                field = field + _signature(car)
            for nb in self.neighbours.get(sid, ()):
                other = occupancy.get(nb)
                if other is not None:
                    field = field + NEIGHBOUR_COUPLING * _signature(other)
            if sid in passing_set:
                field = field + PASSING_COUPLING * np.array([5.0, 2.0, 30.0])
            out.append(MagReading(sid, t, *(float(v) for v in field), temp_c=round(temp, 2)))
        return out


def scenario_readings(
    scenario: Scenario, sim: SlotSensorSim, step_s: float | None = None
) -> Iterator[tuple[float, list[MagReading]]]:
    """The scenario as sensor readings: every bay at every step, with the passing car
    disturbing the strips and aisle cells it drives over."""
    step = step_s or scenario.step_s
    aisle_side = [s.id for s in scenario.slots if s.zone in ("aisle", "fire-lane", "no-parking")]
    n = int(scenario.duration_s / step)
    for i in range(n + 1):
        t = scenario.t0 + i * step
        progress = scenario.passing_at(t)
        passing: list[str] = []
        if progress is not False and aisle_side:
            passing = [aisle_side[min(len(aisle_side) - 1, int(progress * len(aisle_side)))]]
        yield t, sim.read(t, scenario.occupancy(t), passing)


@functools.lru_cache(maxsize=4096)
def _signature(spec: CarSpec) -> np.ndarray:
    return SlotSensorSim.signature(spec)


def _neighbours(slots: Sequence[SlotLike]) -> dict[str, tuple[str, ...]]:
    centres = {s.id: np.mean(np.float32(s.polygon), axis=0) for s in slots}
    sizes = {s.id: float(np.ptp(np.float32(s.polygon)[:, 0])) for s in slots}
    out: dict[str, tuple[str, ...]] = {}
    for sid, c in centres.items():
        near = sorted(
            (float(np.linalg.norm(c - o)), oid) for oid, o in centres.items() if oid != sid
        )
        out[sid] = tuple(oid for d, oid in near[:2] if d < 1.6 * sizes[sid])
    return out
