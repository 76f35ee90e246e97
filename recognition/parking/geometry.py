"""Slot polygon geometry shared by the detector, the rules and the simulator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

Point = tuple[int, int]
Box = tuple[int, int, int, int]  # x, y, w, h


class SlotLike(Protocol):
    """What the parking code needs of a slot: models.site.Slot and SlotGeometry both fit."""

    @property
    def id(self) -> str: ...

    @property
    def zone(self) -> str: ...

    @property
    def polygon(self) -> Sequence[Point]: ...


def slot_quad(polygon: Sequence[Point]) -> np.ndarray:
    """Four corners (float32, 4x2): p0->p1 is a short side (across the bay), p0->p3 a long
    side (along it). A polygon that is not a quad is replaced by its minimum-area rectangle."""
    pts = np.asarray(polygon, dtype=np.float32).reshape(-1, 2)
    if len(pts) != 4:
        pts = cv2.boxPoints(cv2.minAreaRect(pts)).astype(np.float32)
    start = int(np.argmin(pts[:, 1] * 10000 + pts[:, 0]))  # top-most corner: stable order
    pts = np.roll(pts, -start, axis=0)
    if np.linalg.norm(pts[1] - pts[0]) > np.linalg.norm(pts[3] - pts[0]):
        pts = pts[[1, 2, 3, 0]]
    return pts


def unit_to_quad(quad: np.ndarray) -> np.ndarray:
    """Homography from the unit square (u across, v along) onto ``quad``."""
    unit = np.asarray([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)
    homography: np.ndarray = cv2.getPerspectiveTransform(unit, quad)
    return homography


def bounding_box(
    polygon: Sequence[Point], frame_size: tuple[int, int], margin: float = 0.15
) -> Box:
    """Evidence crop box around a polygon, grown by ``margin`` and clipped to the frame."""
    x, y, w, h = cv2.boundingRect(np.asarray(polygon, dtype=np.int32))
    dx, dy = int(w * margin), int(h * margin)
    fw, fh = frame_size
    x0, y0 = max(0, x - dx), max(0, y - dy - h // 3)  # cars rise above their bay
    x1, y1 = min(fw, x + w + dx), min(fh, y + h + dy)
    return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))
