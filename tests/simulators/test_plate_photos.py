"""The independent plate-photo generator: deterministic, grammatical, plates inside the frame."""

from __future__ import annotations

import random

import numpy as np

from models.plate import PlateColor, is_valid_plate
from simulators import plate_photos, plates
from simulators.plate_photos import generate_photo_dataset, photo_plate_text


def test_texts_are_grammatical_for_every_type() -> None:
    rng = random.Random(3)
    for color in plate_photos.PHOTO_TYPES:
        for _ in range(200):
            text = photo_plate_text(rng, color)
            assert is_valid_plate(text), (color, text)
    assert len(photo_plate_text(rng, PlateColor.GREEN)) == 8


def test_shares_no_font_with_the_own_generator() -> None:
    own = set(plates.CJK_FONTS) | set(plates.LATIN_FONTS)
    faces = plate_photos.available_faces(plate_photos.CJK_FACES + plate_photos.LATIN_FACES)
    assert faces and not {path for path, _ in faces} & own


def test_deterministic_and_plates_inside_the_frame() -> None:
    a = list(generate_photo_dataset(2, seed=99, size=(640, 360)))
    b = list(generate_photo_dataset(2, seed=99, size=(640, 360)))
    for (fa, ta, _), (fb, tb, _) in zip(a, b, strict=True):
        assert fa.shape == (360, 640, 3)
        assert np.array_equal(fa, fb) and ta == tb
        for truth in ta:
            x, y, w, h = truth.box
            assert w > 20 and h > 5 and x >= 0 and y >= 0 and x + w <= 640 and y + h <= 360
    assert [m["difficulty"] for _, _, m in a] == ["easy", "hard"]
