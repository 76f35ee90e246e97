"""The recogniser's plate evidence: grammar templates, the separator dot, the cheap probe."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from models.plate import PROVINCES, PlateColor
from recognition.lpr.locator import text_crop
from recognition.lpr.reader import MIN_CONFIDENCE, PROBE_MIN
from recognition.lpr.recognizer import (
    _LOG_TEXT_FREQUENCY,
    TEXT_PRIOR_POWER,
    PlateRead,
    PlateRecognizer,
)
from simulators.plates import render_plate


@pytest.fixture(scope="module")
def rec() -> PlateRecognizer:
    return PlateRecognizer(width=168)


def _plate_crop(text: str, color: PlateColor) -> np.ndarray:
    """A generated plate on a grey surround, cut out as the reader does."""
    plate = render_plate(text, color, rng=random.Random(3))
    plate = cv2.resize(plate, (220, 70), interpolation=cv2.INTER_AREA)
    frame = np.full((200, 400, 3), 110, np.uint8)
    frame[65:135, 90:310] = plate
    quad = np.array([[90, 65], [310, 65], [310, 135], [90, 135]], np.float32)
    return text_crop(frame, quad)


def _sign_crop(text: str) -> np.ndarray:
    """Lettering on a plate-coloured sign: no province, no separator dot."""
    img = np.zeros((48, 168, 3), np.uint8)
    img[:] = (170, 80, 10)
    cv2.putText(img, text, (6, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.15, (255, 255, 255), 2)
    return img


def test_dot_makes_an_illegible_province_acceptable() -> None:
    """Letters and serial certain, province probability ~0: only the dot between letter and
    serial (a plate's mark that signs lack) lifts it over the reader's threshold."""
    probs = (1e-6, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    no_dot = PlateRead("冀B6R74N", probs, 0.0, "XB6R74N")
    with_dot = PlateRead("冀B6R74N", probs, 0.0, "XB6R74N", dot=0.99)
    nothing_in_front = PlateRead("冀B6R74N", probs, 0.0, "B6R74N", dot=0.99)
    assert no_dot.confidence < MIN_CONFIDENCE < with_dot.confidence
    assert nothing_in_front.confidence < MIN_CONFIDENCE
    assert with_dot.confidence < PlateRead("冀B6R74N", (0.9, *probs[1:]), 0.0, "").confidence


def test_hong_kong_macau_suffix_decides_guangdong_z(rec: PlateRecognizer) -> None:
    read = rec.read(_plate_crop("粤Z1234港", PlateColor.BLACK), PlateColor.BLACK)
    assert read is not None and read.text == "粤Z1234港"
    assert read.dot > 0.5


def test_probe_tells_a_plate_from_lettering(rec: PlateRecognizer) -> None:
    plate = rec.plate_probe(_plate_crop("浙HA1234", PlateColor.BLUE))
    sign = rec.plate_probe(_sign_crop("PARKING 12"))
    assert plate > 0.5 and sign < PROBE_MIN


def test_second_look_reads_the_province_from_the_front(rec: PlateRecognizer) -> None:
    """A first read unsure of the province (even shares) takes the one the front of the plate
    shows on its own; the rest of the text and the confidence stay."""
    crop = _plate_crop("浙HA1234", PlateColor.BLUE)
    flat = tuple([1 / len(PROVINCES)] * len(PROVINCES))
    unsure = PlateRead("新HA1234", (0.01, *[0.99] * 6), 0.0, "HA1234", province_scores=flat)
    again = rec.second_look(crop, unsure)
    assert again.text == "浙HA1234" and again.confidence == unsure.confidence
    # Hong Kong and Macau plates are 粤Z whatever the front looks like.
    hk = PlateRead("粤Z1234港", (0.01, *[0.99] * 6), 0.0, "Z1234港", province_scores=flat)
    assert rec.second_look(crop, hk) is hk


def test_first_read_carries_province_shares(rec: PlateRecognizer) -> None:
    read = rec.read(_plate_crop("苏E56780", PlateColor.BLUE), PlateColor.BLUE)
    assert read is not None and len(read.province_scores) == len(PROVINCES)
    assert PROVINCES[int(np.argmax(read.province_scores))] == "苏"
    assert abs(sum(read.province_scores) - 1.0) < 1e-6


def test_new_energy_serial_follows_the_energy_class(rec: PlateRecognizer) -> None:
    """The large new-energy layout ends in D/F: a final F is not read as the digit 1."""
    for text in ("川A92561F", "粤BD12345"):
        read = rec.read(_plate_crop(text, PlateColor.GREEN), PlateColor.GREEN)
        assert read is not None and read.text == text


def _model_prior_shares() -> tuple[float, ...]:
    """Province shares of a read that shows nothing: the model's own lean to the provinces
    frequent in general text (what TEXT_PRIOR_POWER divides out)."""
    lean = np.exp(_LOG_TEXT_FREQUENCY * TEXT_PRIOR_POWER)
    return tuple((lean / lean.sum()).tolist())


def _smudged(text: str) -> np.ndarray:
    crop = _plate_crop(text, PlateColor.BLUE)
    crop[:, : int(crop.shape[1] * 0.17)] = crop[:, int(crop.shape[1] * 0.5)].mean(axis=0)
    return crop


def test_home_province_decides_only_an_illegible_province(rec: PlateRecognizer) -> None:
    """The site's own province wins when the front shows no legible province (a smudge
    over it, the first read no more than the model's lean); a clearly printed province is
    kept whatever the site's."""
    unsure = PlateRead(
        "新HA1234", (0.01, *[0.99] * 6), 0.0, "HA1234", province_scores=_model_prior_shares()
    )
    clear = _plate_crop("浙HA1234", PlateColor.BLUE)
    for home in ("苏", "新", "闽"):
        assert rec.second_look(_smudged("浙HA1234"), unsure, home=home).text == home + "HA1234"
        assert rec.second_look(clear, unsure, home=home).text == "浙HA1234"


def test_unsure_province_is_not_taken_for_a_frequent_character(rec: PlateRecognizer) -> None:
    """A blurred 浙 that the first read gives mostly to 新 (~30x as common in general text,
    so the model leans to it) is read as 浙 once that lean is divided out; a province the
    first read clearly prefers is kept."""
    shares = np.full(len(PROVINCES), 0.001)
    shares[PROVINCES.index("新")], shares[PROVINCES.index("浙")] = 0.6, 0.37
    leaning = PlateRead(
        "新HA1234", (0.3, *[0.99] * 6), 0.0, "HA1234", province_scores=tuple(shares)
    )
    assert rec.second_look(_smudged("浙HA1234"), leaning).text == "浙HA1234"
    shares[PROVINCES.index("新")], shares[PROVINCES.index("浙")] = 0.95, 0.01
    sure = PlateRead("新HA1234", (0.45, *[0.99] * 6), 0.0, "HA1234", province_scores=tuple(shares))
    assert rec.second_look(_smudged("新HA1234"), sure).text == "新HA1234"
