"""The real plate pipeline (OpenCV localiser + PP-OCR recogniser) on generated frames."""

from __future__ import annotations

import random

import numpy as np
import pytest

from models.plate import PlateColor, is_valid_plate
from recognition.lpr import PlateReader, PlateVoter
from recognition.lpr.locator import Candidate, covered, iou
from recognition.lpr.recognizer import PlateRead
from simulators.plates import PLATE_TYPES, random_plate, render_vehicle_frame


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(threads=1)


def _plate(kind: PlateColor, seed: int) -> str:
    return random_plate(random.Random(seed), kind)


@pytest.mark.parametrize("kind", PLATE_TYPES, ids=lambda k: k.value)
def test_reads_every_type_in_a_clear_frame(reader: PlateReader, kind: PlateColor) -> None:
    text = _plate(kind, 11)
    frame, truths = render_vehicle_frame([(text, kind)], seed=101, plate_width=190)
    dets = reader.read(frame)
    assert dets, "no plate found"
    best = dets[0]
    assert best.text == text
    assert best.color is kind
    assert 0.5 < best.confidence <= 1.0
    assert iou(best.box, truths[0].box) > 0.5


@pytest.mark.parametrize("kind", PLATE_TYPES, ids=lambda k: k.value)
def test_reads_small_tilted_plates(reader: PlateReader, kind: PlateColor) -> None:
    text = _plate(kind, 23)
    frame, _ = render_vehicle_frame(
        [(text, kind)], seed=7, plate_width=120, angles=(14.0, 10.0, 10.0)
    )
    assert [d.text for d in reader.read(frame)][:1] == [text]


def test_hard_frames_mostly_read(reader: PlateReader) -> None:
    """Dusk/night, glare, blur, dirt: at least 8 of 10 fixed hard frames read exactly."""
    ok = 0
    for i in range(10):
        kind = PLATE_TYPES[i % 5]
        text = _plate(kind, 300 + i)
        frame, _ = render_vehicle_frame([(text, kind)], seed=900 + i, difficulty="hard")
        ok += any(d.text == text for d in reader.read(frame))
    assert ok >= 8


def test_no_plate_no_detection(reader: PlateReader) -> None:
    for seed in range(6):
        frame, truths = render_vehicle_frame(
            None, seed=seed, difficulty="hard" if seed % 2 else "easy"
        )
        assert truths == []
        assert reader.read(frame) == []


def test_blank_and_tiny_inputs(reader: PlateReader) -> None:
    assert reader.read(np.zeros((720, 1280, 3), np.uint8)) == []
    assert reader.read(np.full((720, 1280, 3), 255, np.uint8)) == []
    assert reader.read(np.zeros((8, 8, 3), np.uint8)) == []


def test_several_plates_in_one_frame(reader: PlateReader) -> None:
    plates = [
        (_plate(PlateColor.BLUE, 5), PlateColor.BLUE),
        (_plate(PlateColor.GREEN, 6), PlateColor.GREEN),
    ]
    frame, _ = render_vehicle_frame(plates, seed=42, plate_width=150)
    found = {d.text for d in reader.read(frame)}
    assert {t for t, _ in plates} <= found


def test_full_hd_frame(reader: PlateReader) -> None:
    text = _plate(PlateColor.YELLOW, 9)
    frame, _ = render_vehicle_frame(
        [(text, PlateColor.YELLOW)], seed=3, size=(1920, 1080), plate_width=260
    )
    assert frame.shape == (1080, 1920, 3)
    dets = reader.read(frame)
    assert dets and dets[0].text == text and is_valid_plate(dets[0].text)


def test_voting_over_a_car_stopping_at_the_barrier(reader: PlateReader) -> None:
    """Consecutive frames of one car (different noise/blur/pose each) give one decision."""
    text = "浙HA1234"
    voter = PlateVoter(min_frames=3, max_frames=8)
    result = None
    for i in range(8):
        frame, _ = render_vehicle_frame(text, seed=5000 + i, difficulty="hard" if i % 2 else "easy")
        voter.add(reader.read(frame))
        result = voter.result()
        if result is not None:
            break
    assert result is not None
    assert result.text == text and result.color is PlateColor.BLUE and result.frames >= 3


def test_max_plates_one_stops_after_the_first() -> None:
    plates = [
        (_plate(PlateColor.BLUE, 5), PlateColor.BLUE),
        (_plate(PlateColor.GREEN, 6), PlateColor.GREEN),
    ]
    frame, _ = render_vehicle_frame(plates, seed=42, plate_width=150)
    dets = PlateReader(max_plates=1).read(frame)
    assert len(dets) == 1 and dets[0].text in {t for t, _ in plates}


def test_plate_marks_lower_the_bar_for_one_blurred_character(reader: PlateReader) -> None:
    """A read with the separator dot or a Chinese character plainly in front of the letter is
    a plate for certain: it passes at a lower confidence than lettering without them."""
    probs = (0.02, 0.04, *[0.95] * 5)
    marked = PlateRead("陕S834R1", probs, 0.0, "5834R1", province_cjk=0.97, dot=0.8)
    bare = PlateRead("陕S834R1", probs, 0.0, "5834R1")
    assert reader._threshold(bare) == reader.min_confidence
    assert reader._threshold(marked) < marked.confidence < reader.min_confidence


def test_outline_around_a_read_plate_is_not_read_again() -> None:
    plate, front = (400, 300, 120, 40), (360, 260, 230, 110)
    assert iou(plate, front) < 0.2 and covered(plate, front) == 1.0
    assert covered(plate, (0, 0, 50, 50)) == 0.0


def test_home_province_must_be_a_province() -> None:
    with pytest.raises(ValueError, match="31 province"):
        PlateReader(home_province="X")


def test_lettering_rejected_by_the_probe_is_not_probed_again(
    reader: PlateReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outlines of a sign that failed the probe (the same lettering framed again) cost no
    second probe; the plates in the frames are still read."""
    import recognition.lpr.reader as reader_module
    from recognition.lpr.reader import SAME_LETTERING_IOU

    events: list[tuple[str, object]] = []
    crop_of = reader_module.text_crop
    probe_of = reader._probe

    def text_crop(frame: np.ndarray, quad: np.ndarray) -> np.ndarray:
        events.append(("crop", Candidate(quad, "").box))  # the box the reader compares
        return crop_of(frame, quad)

    def probe(crop: np.ndarray, seen: PlateColor) -> bool:
        events.append(("probe", shown := probe_of(crop, seen)))
        return shown

    monkeypatch.setattr(reader_module, "text_crop", text_crop)
    monkeypatch.setattr(reader, "_probe", probe)
    frames, read = 8, 0
    for seed in range(frames):
        kind = PLATE_TYPES[seed % 5]
        text = _plate(kind, 300 + seed)
        frame, _ = render_vehicle_frame([(text, kind)], seed=900 + seed, difficulty="hard")
        events.append(("frame", None))
        read += any(d.text == text for d in reader.read(frame))
    rejected: list[tuple[int, int, int, int]] = []
    box, rejections = None, 0
    for what, value in events:
        if what == "frame":
            rejected.clear()
        elif what == "crop":
            assert all(iou(value, r) <= SAME_LETTERING_IOU for r in rejected)  # type: ignore[arg-type]
            box = value
        elif value is False:
            rejected.append(box)  # type: ignore[arg-type]
            rejections += 1
    assert rejections, "no sign was probed and rejected: the frames test nothing"
    assert read >= frames - 1
