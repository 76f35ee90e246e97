"""Which plate comes first: the car at the gate, not a plate on a sign or a car behind.

Pure logic. A plate read surely is not enough to be first: in a busy photo a small, sure
plate far up the frame belongs to a car further back. The car at the gate is near the
camera (a wide plate) and low in the frame (the road comes towards the camera), so the
read's confidence is weighted by its width and its height in the frame.
"""

from __future__ import annotations

from collections.abc import Sequence

from recognition.lpr.types import PlateDetection

# A plate this wide (fraction of the frame's width) or wider counts as near: GA 36 plates
# at a gate camera are ~10-30% of a 1280 px frame.
NEAR_WIDTH = 0.12
# How much nearness and lowness may weigh against confidence (0: not at all).
SIZE_WEIGHT = 0.5
LOW_WEIGHT = 0.2


def gate_score(det: PlateDetection, frame_w: int, frame_h: int) -> float:
    """Confidence weighted by how near (wide) and how low in the frame the plate is."""
    _x, y, w, h = det.box
    near = min(1.0, w / max(1.0, NEAR_WIDTH * frame_w))
    low = min(1.0, max(0.0, (y + h / 2) / max(1, frame_h)))
    return (
        det.confidence
        * (1 - SIZE_WEIGHT + SIZE_WEIGHT * near)
        * (1 - LOW_WEIGHT + LOW_WEIGHT * low)
    )


def rank_plates(dets: Sequence[PlateDetection], frame_w: int, frame_h: int) -> list[PlateDetection]:
    """The detections best first by ``gate_score`` (stable for equal scores)."""
    return sorted(dets, key=lambda d: gate_score(d, frame_w, frame_h), reverse=True)
