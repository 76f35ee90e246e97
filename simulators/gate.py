"""Simulated hardware of one vehicle gate: camera, inductive loop and barrier relay.

``SimulatedVehicleGate.arrive(plate, color)`` puts a car at the barrier: the loop says present
and the camera renders that car's plate for the next frames (real pixels from
``simulators.plates.render_vehicle_frame``; the ground truth it returns is thrown away: the edge
has to read the pixels). The car leaves by itself ``drive_through_s`` after the barrier opened,
or ``give_up_s`` after arriving when the barrier never opens. Time is evaluated lazily on each
read, so the simulator needs no thread of its own.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from models.messages import GatePosition
from models.plate import PlateColor

Clock = Callable[[], float]
FrameRenderer = Callable[..., tuple[np.ndarray, Any]]  # (frame, ground truth)


def _default_renderer() -> FrameRenderer:
    from simulators.plates import render_vehicle_frame  # heavy: fonts, only when a car shows

    return render_vehicle_frame


@dataclass(frozen=True, slots=True)
class RelayEvent:
    at: float
    action: str  # "open" | "close"
    seconds: float | None = None


class SimRelay:
    """Records every open/close with its time; the position follows the last command."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.events: list[RelayEvent] = []
        self._position = GatePosition.CLOSED

    def open(self, seconds: float) -> None:
        with self._lock:
            self.events.append(RelayEvent(self._clock(), "open", seconds))
            self._position = GatePosition.OPEN

    def close(self) -> None:
        with self._lock:
            self.events.append(RelayEvent(self._clock(), "close"))
            self._position = GatePosition.CLOSED

    @property
    def position(self) -> GatePosition:
        return self._position

    def opens(self) -> list[RelayEvent]:
        with self._lock:
            return [e for e in self.events if e.action == "open"]

    def first_open_since(self, since: float) -> float | None:
        with self._lock:
            return next((e.at for e in self.events if e.action == "open" and e.at >= since), None)


@dataclass
class Visit:
    plate: str
    color: PlateColor | None
    arrived: float
    seed: int
    on_loop_at: float
    departed: float | None = None
    opened_at: float | None = None
    frames: int = 0


@dataclass
class _Scene:
    current: Visit | None = None
    history: list[Visit] = field(default_factory=list)


class SimulatedVehicleGate:
    """One vehicle gate's simulated camera (``camera``), loop (``sensor``) and relay (``relay``)."""

    def __init__(
        self,
        gate_id: str,
        *,
        size: tuple[int, int] = (1280, 720),
        drive_through_s: float = 2.0,
        give_up_s: float = 10.0,
        loop_gap_s: float = 1.0,
        noise_sigma: float = 3.0,
        seed: int = 0,
        clock: Clock = time.monotonic,
        renderer: FrameRenderer | None = None,
    ) -> None:
        self.gate_id = gate_id
        self.size = size
        self.drive_through_s = drive_through_s
        self.give_up_s = give_up_s
        self.loop_gap_s = loop_gap_s
        self.noise_sigma = noise_sigma
        self._seed = seed
        self._clock = clock
        self._renderer = renderer
        self._lock = threading.Lock()
        self._scene = _Scene()
        self._scene_frame: np.ndarray | None = None  # the current car, rendered once
        self.scene_seed = seed
        self.camera_fault: str | None = None  # None | "dead" | "covered": fault injection
        self._covered = 0
        self.relay = SimRelay(clock)
        self.camera = SimCamera(self)
        self.sensor = SimLoopSensor(self)

    # ------------------------------------------------------------------ scenario API

    def arrive(self, plate: str, color: PlateColor | None = None) -> None:
        """A car pulls up to the barrier (replacing any car still recorded as there).

        Two cars are never on the loop at once: a real loop always drops between them. So the
        loop reports the new car only ``loop_gap_s`` after the previous one left.
        """
        with self._lock:
            self._update()
            now = self._clock()
            self._leave(now)
            last = self._scene.history[-1].departed if self._scene.history else None
            on_loop_at = now if last is None else max(now, last + self.loop_gap_s)
            self._seed += 1
            self._scene.current = Visit(plate, color, now, self._seed * 1000, on_loop_at)
            self._scene_frame = None

    def tailgate(self, plate: str, color: PlateColor | None = None) -> None:
        """A car follows the one at the barrier bumper to bumper: the loop never clears.

        It drives through if the barrier is up (tailgating) and waits like any car otherwise.
        """
        with self._lock:
            self._update()
            now = self._clock()
            self._leave(now)
            self._seed += 1
            self._scene.current = Visit(plate, color, now, self._seed * 1000, now)
            self._scene_frame = None

    def depart(self) -> None:
        with self._lock:
            self._update()
            self._leave(self._clock())

    @property
    def occupied(self) -> bool:
        with self._lock:
            self._update()
            return self._scene.current is not None

    @property
    def history(self) -> list[Visit]:
        with self._lock:
            self._update()
            return list(self._scene.history)

    # ------------------------------------------------------------------ device side

    def _covered_frames(self) -> int:
        self._covered += 1
        return self._covered

    def _frame(self) -> np.ndarray | None:
        """The scene of the current visit (rendered once), with fresh sensor noise per frame."""
        with self._lock:
            self._update()
            if self.camera_fault == "dead":
                return None
            if self.camera_fault == "covered":
                return _covered_lens(self.size, seed=self._seed + self._covered_frames())
            visit = self._scene.current
            if visit is None:
                return _sensor_noise(
                    _empty_scene(self.size, self.scene_seed),
                    seed=self._seed,
                    sigma=self.noise_sigma,
                )
            visit.frames += 1
            frame_no = visit.frames
            scene = self._scene_frame
        if scene is None:
            renderer = self._renderer or _default_renderer()
            plates = [(visit.plate, visit.color)] if visit.color is not None else visit.plate
            scene, _truth = renderer(plates, seed=visit.seed, size=self.size)  # truth unused
            with self._lock:
                if self._scene.current is visit:
                    self._scene_frame = scene
        return _sensor_noise(scene, seed=visit.seed + frame_no, sigma=self.noise_sigma)

    def _on_loop(self) -> bool:
        with self._lock:
            self._update()
            visit = self._scene.current
            return visit is not None and self._clock() >= visit.on_loop_at

    def _update(self) -> None:
        """Advance the car: drive through after the barrier opened, or give up."""
        visit = self._scene.current
        if visit is None:
            return
        now = self._clock()
        if visit.opened_at is None:
            visit.opened_at = self.relay.first_open_since(visit.arrived)
        at_barrier = now >= visit.on_loop_at
        if visit.opened_at is None and at_barrier and self.relay.position is GatePosition.OPEN:
            visit.opened_at = now  # the barrier is still up: the car just drives on
        if visit.opened_at is not None:
            if now - visit.opened_at >= self.drive_through_s:
                self._leave(visit.opened_at + self.drive_through_s)
        elif now - visit.arrived >= self.give_up_s:
            self._leave(visit.arrived + self.give_up_s)

    def _leave(self, at: float) -> None:
        visit = self._scene.current
        if visit is not None:
            visit.departed = at
            self._scene.history.append(visit)
            self._scene.current = None
            self._scene_frame = None


class SimCamera:
    """Frames of the car at the barrier, or the empty gate; None while "dead"."""

    def __init__(self, gate: SimulatedVehicleGate) -> None:
        self._gate = gate

    def read(self) -> np.ndarray | None:
        return self._gate._frame()

    def close(self) -> None:
        pass


class SimLoopSensor:
    """Inductive loop in front of the barrier: True while a car stands on it."""

    def __init__(self, gate: SimulatedVehicleGate) -> None:
        self._gate = gate

    def present(self) -> bool:
        return self._gate._on_loop()


def _sensor_noise(frame: np.ndarray, *, seed: int, sigma: float) -> np.ndarray:
    """Per-frame Gaussian noise: consecutive frames of a standing car are never identical."""
    if sigma <= 0:
        return frame.copy()
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, sigma, size=(*frame.shape[:2], 1)).astype(np.float32)
    return np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)


@cache
def _empty_scene(size: tuple[int, int], seed: int) -> np.ndarray:
    """The gate's backdrop without a car (same drawing code as the car scenes)."""
    from simulators.plate_scenes import background

    width, height = size
    return background(random.Random(seed), width, height)


def _covered_lens(size: tuple[int, int], *, seed: int) -> np.ndarray:
    """A hand or a bag over the lens: dark, featureless, only sensor noise."""
    width, height = size
    frame = np.full((height, width, 3), 18, np.uint8)
    return _sensor_noise(frame, seed=seed, sigma=2.0)
