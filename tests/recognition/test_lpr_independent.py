"""Smoke test on the independent plate-photo generator (the figures are in bench/lpr.py)."""

from __future__ import annotations

import pytest

from recognition.lpr import PlateReader, locator
from recognition.lpr import reader as reader_module
from recognition.lpr.locator import iou
from simulators.plate_photos import generate_photo_dataset


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


def test_easy_photos_of_another_generator_are_mostly_read(reader: PlateReader) -> None:
    right = total = 0
    for frame, truths, meta in generate_photo_dataset(12, seed=31):
        if meta["difficulty"] != "easy":
            continue
        dets = reader.read(frame)
        for truth in truths[:1]:  # the car at the gate
            total += 1
            right += any(d.text == truth.text and iou(d.box, truth.box) > 0.3 for d in dets)
    assert total == 6
    assert right >= 5  # a low bar: this guards against breakage, not for accuracy


def test_a_doubtful_read_is_re_read_from_other_cuts_of_the_row(
    reader: PlateReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    margins = []

    def spy(frame, quad, margin, *args):
        margins.append(margin)
        return locator.rectify(frame, quad, margin, *args)

    monkeypatch.setattr(reader_module, "rectify", spy)
    for frame, _truths, _meta in generate_photo_dataset(40, seed=5150):
        reader.read(frame)
        if margins:
            break
    assert margins, "no doubtful read was re-read in 40 photos"
    per_read = list(reader_module.REREAD_MARGINS)
    assert margins[: len(per_read)] == per_read and len(margins) % len(per_read) == 0
