"""Result types of the plate reader."""

from __future__ import annotations

from dataclasses import dataclass

from models.plate import PlateColor


@dataclass(frozen=True)
class PlateDetection:
    text: str  # normalised, no dot, e.g. "浙HA1234"
    color: PlateColor
    confidence: float  # 0..1
    box: tuple[int, int, int, int]  # x, y, w, h in the frame
