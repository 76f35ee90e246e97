"""Camera health: dead and covered cameras are reported once per outage, from real frames."""

from __future__ import annotations

import numpy as np

from edge.camera_health import CameraFault, CameraHealth, frame_looks_blocked
from simulators.gate import SimulatedVehicleGate


def test_blocked_means_no_structure_not_darkness() -> None:
    gate = SimulatedVehicleGate("g", size=(640, 360))
    assert not frame_looks_blocked(gate.camera.read())  # the empty gate has structure
    gate.camera_fault = "covered"
    assert frame_looks_blocked(gate.camera.read())
    rng = np.random.default_rng(1)
    noisy_grey = np.clip(128 + rng.normal(0, 20, (360, 640, 3)), 0, 255).astype(np.uint8)
    assert frame_looks_blocked(noisy_grey)  # noise alone is not a scene
    dark_scene = np.zeros((360, 640, 3), np.uint8)
    dark_scene[100:200, 300:340] = 90  # a lit doorway at night
    assert not frame_looks_blocked(dark_scene)


def test_each_outage_is_reported_once_after_it_lasted() -> None:
    good = SimulatedVehicleGate("g", size=(320, 180)).camera.read()
    health = CameraHealth(after_s=10)
    assert health.observe(good, 0) is None
    assert health.observe(None, 1) is None
    assert health.observe(None, 10.9) is None
    issue = health.observe(None, 11)
    assert issue is not None and issue.fault is CameraFault.NO_FRAMES and issue.since == 1
    assert health.observe(None, 30) is None  # same outage: no repeat
    assert health.observe(good, 31) is None and health.fault is None
    covered = np.full((180, 320, 3), 15, np.uint8)
    assert health.observe(covered, 32) is None
    blocked = health.observe(covered, 42)
    assert blocked is not None and blocked.fault is CameraFault.BLOCKED
    assert "blocked" in blocked.detail
