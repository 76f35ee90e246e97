"""The camera occupancy detector on rendered car-park frames (real OpenCV on real pixels)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.car_park.evidence import crop_jpeg
from models.site import load_site_config
from recognition.parking.detector import SlotOccupancyDetector
from recognition.parking.geometry import bounding_box, slot_quad
from simulators.carpark import (
    CarParkRenderer,
    LooseCar,
    SlotGeometry,
    default_site_aisle_regions,
    default_site_slots,
    random_car,
)

SLOTS = default_site_slots() + default_site_aisle_regions()


def accuracy(det, renderer, slots, rng, lighting, n=4, walkers=0, rain=False, t0=1000.0):
    ok = total = 0
    for i in range(n):
        occ = {
            s.id: random_car(rng) if s.zone != "aisle" and rng.random() < 0.5 else None
            for s in slots
        }
        frame = renderer.render(occ, t=t0 + i, lighting=lighting, walkers=walkers, rain=rain)
        obs = det.update(frame.image, t0 + i)
        for s in slots:
            if frame.occluded[s.id] > 0.03:
                continue  # a person standing in the bay: either answer is fair
            ok += obs[s.id].occupied == frame.occupied[s.id]
            total += 1
    return ok / total


@pytest.mark.parametrize(("lighting", "rain"), [("day", False), ("dusk", True), ("night", False)])
def test_detector_reads_occupancy_in_each_lighting(lighting, rain):
    renderer = CarParkRenderer(SLOTS, seed=41)
    det = SlotOccupancyDetector(SLOTS)
    det.calibrate(renderer.render({}, t=0.0, lighting="day").image)  # installed by day
    acc = accuracy(det, renderer, SLOTS, np.random.default_rng(41), lighting, rain=rain, walkers=3)
    assert acc >= 0.98, f"{lighting}: {acc:.3f}"


def test_detector_works_on_the_site_config_polygons():
    """The polygons come from config/lakeside.yaml, not from the simulator's layout."""
    cfg = load_site_config()
    assert cfg.car_park is not None
    slots = [SlotGeometry(s.id, s.zone, tuple(s.polygon)) for s in cfg.car_park.slots]
    renderer = CarParkRenderer(slots, seed=42)
    det = SlotOccupancyDetector(cfg.car_park.slots)
    det.calibrate(renderer.render({}, t=0.0).image)
    assert accuracy(det, renderer, slots, np.random.default_rng(42), "day") >= 0.98


def test_long_dusk_shadows_of_neighbours_do_not_fill_free_bays():
    renderer = CarParkRenderer(SLOTS, seed=43)
    det = SlotOccupancyDetector(SLOTS)
    det.calibrate(renderer.render({}, t=0.0, lighting="dusk").image)
    rng = np.random.default_rng(43)
    # Every other bay occupied: each free bay has cars (and their shadows) on both sides.
    occ = {
        s.id: random_car(rng) if i % 2 == 0 and s.zone != "aisle" else None
        for i, s in enumerate(SLOTS)
    }
    frame = renderer.render(occ, t=500.0, lighting="dusk")
    obs = det.update(frame.image)
    wrong = [s.id for s in SLOTS if obs[s.id].occupied != frame.occupied[s.id]]
    assert wrong == []


def test_background_follows_slow_light_change_and_survives_day_to_night():
    renderer = CarParkRenderer(SLOTS, seed=44)
    det = SlotOccupancyDetector(SLOTS)
    det.calibrate(renderer.render({}, t=0.0, lighting="day").image)
    car = random_car(np.random.default_rng(44))
    bg_before = det.background("A02")
    # A car stands in A01 all day; clouds change the light over 20 minutes.
    for i in range(60):
        obs = det.update(renderer.render({"A01": car}, t=20.0 * i, lighting="day").image)
        assert obs["A01"].occupied
        assert not any(obs[s.id].occupied for s in SLOTS if s.id != "A01")
    assert not np.allclose(det.background("A02"), bg_before)  # free bays learn
    # Night falls with the car still there; it leaves at night: its stale day
    # background must not keep the bay occupied.
    for i in range(5):
        assert det.update(renderer.render({"A01": car}, t=5000.0 + i, lighting="night").image)[
            "A01"
        ].occupied
    obs = det.update(renderer.render({}, t=5010.0, lighting="night").image)
    assert not obs["A01"].occupied


def test_non_quad_polygons_and_empty_slot_list():
    five = ((100, 100), (200, 100), (210, 300), (110, 300), (95, 200))
    quad = slot_quad(five)
    assert quad.shape == (4, 2)
    sides = [np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[3] - quad[0])]
    assert sides[0] < sides[1]
    det = SlotOccupancyDetector([SlotGeometry("X", "general", five)])
    frame = np.full((720, 1280, 3), 90, np.uint8)
    det.calibrate(frame)
    assert not det.update(frame)["X"].occupied
    with pytest.raises(ValueError):
        SlotOccupancyDetector([])


def test_evidence_crop_is_a_small_jpeg_of_the_slot():
    renderer = CarParkRenderer(SLOTS, seed=45)
    frame = renderer.render({"F01": random_car(np.random.default_rng(45))}, t=0.0).image
    f01 = next(s for s in SLOTS if s.id == "F01")
    box = bounding_box(f01.polygon, (1280, 720))
    jpeg = crop_jpeg(frame, box, max_side=200)
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and max(img.shape[:2]) == 200
    with pytest.raises(ValueError):
        crop_jpeg(frame, (2000, 2000, 10, 10))


def test_car_left_in_the_aisle_is_seen_in_the_unmarked_region():
    """Parking outside marked slots: a car standing in the driving lane fills an aisle cell."""
    renderer = CarParkRenderer(SLOTS, seed=46)
    det = SlotOccupancyDetector(SLOTS)
    det.calibrate(renderer.render({}, t=0.0).image)
    lane = next(s for s in SLOTS if s.id == "L02")
    x0, y0 = lane.polygon[0]
    x1, y1 = lane.polygon[2]
    # A car-sized quad in the middle of the cell, along the lane.
    cx, cy, half_l, half_w = (x0 + x1) // 2, (y0 + y1) // 2, 90, 38
    quad = (
        (cx - half_l, cy - half_w),
        (cx + half_l, cy - half_w),
        (cx + half_l, cy + half_w),
        (cx - half_l, cy + half_w),
    )
    car = LooseCar(quad, random_car(np.random.default_rng(46)))
    frame = renderer.render({}, t=10.0, loose_cars=[car])
    obs = det.update(frame.image)
    assert obs["L02"].occupied
    assert not any(obs[s.id].occupied for s in SLOTS if s.id not in ("L02", "L01", "L03"))


def test_backgrounds_survive_a_restart(tmp_path):
    renderer = CarParkRenderer(SLOTS, seed=47)
    det = SlotOccupancyDetector(SLOTS)
    det.calibrate(renderer.render({}, t=0.0).image)
    path = tmp_path / "carpark_bg.npz"
    det.save_background(path)
    # After a restart with cars parked, the loaded background still sees them.
    car = random_car(np.random.default_rng(47))
    frame = renderer.render({"B03": car}, t=50.0).image
    again = SlotOccupancyDetector(SLOTS)
    again.load_background(path)
    assert again.update(frame)["B03"].occupied
    other = SlotOccupancyDetector(SLOTS[:5])
    with pytest.raises(ValueError):
        other.load_background(path)
