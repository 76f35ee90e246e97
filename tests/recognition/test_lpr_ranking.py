"""Ranking: the near, low plate of the car at the gate before a small sure one further back."""

from models.plate import PlateColor
from recognition.lpr.ranking import gate_score, rank_plates
from recognition.lpr.types import PlateDetection


def det(text: str, conf: float, box: tuple[int, int, int, int]) -> PlateDetection:
    return PlateDetection(text, PlateColor.BLUE, conf, box)


def test_the_car_at_the_gate_beats_a_surer_small_plate_far_up() -> None:
    behind = det("京A12345", 0.97, (900, 200, 90, 28))  # small, high: a car further back
    gate = det("浙HA1234", 0.80, (500, 520, 260, 80))  # wide, low: the car at the barrier
    assert [d.text for d in rank_plates([behind, gate], 1280, 720)] == ["浙HA1234", "京A12345"]


def test_between_plates_of_the_same_size_and_place_confidence_decides() -> None:
    a = det("浙HA1234", 0.6, (500, 500, 200, 60))
    b = det("浙HA1284", 0.9, (500, 500, 200, 60))
    assert rank_plates([a, b], 1280, 720)[0] is b


def test_scores_stay_within_the_confidence() -> None:
    d = det("浙HA1234", 0.9, (0, 0, 10, 4))
    assert 0 < gate_score(d, 1280, 720) <= 0.9
    wide_low = det("浙HA1234", 0.9, (400, 600, 400, 110))
    assert gate_score(wide_low, 1280, 720) <= 0.9
    assert gate_score(wide_low, 1280, 720) > gate_score(d, 1280, 720)
    assert rank_plates([], 1280, 720) == []
