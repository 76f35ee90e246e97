"""Camera health from the frames themselves (pure; the caller supplies the time).

Two faults a regulator counts against the property company: a camera that gives no frames
(dead, unplugged, network down) and one that is blocked or tampered (lens covered, sprayed,
turned to a wall): the picture is then nearly uniform. Each fault is reported once per outage,
after it lasted ``after_s``; a good frame ends the outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np


class CameraFault(StrEnum):
    NO_FRAMES = "no_frames"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class CameraIssue:
    fault: CameraFault
    since: float
    detail: str


def frame_looks_blocked(frame: np.ndarray, *, min_detail: float = 6.0) -> bool:
    """True when the frame has almost no structure: std of a small grey thumbnail.

    The thumbnail averages sensor noise away, so only real scene structure (edges, objects,
    light and shade) keeps the spread above ``min_detail`` grey levels.
    """
    grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    thumb = cv2.resize(grey, (64, 36), interpolation=cv2.INTER_AREA)
    return float(thumb.std()) < min_detail


class CameraHealth:
    def __init__(self, *, after_s: float = 10.0, min_detail: float = 6.0) -> None:
        self.after_s = after_s
        self.min_detail = min_detail
        self._fault: CameraFault | None = None
        self._since = 0.0
        self._reported = False

    @property
    def fault(self) -> CameraFault | None:
        return self._fault

    def observe(self, frame: np.ndarray | None, now: float) -> CameraIssue | None:
        """Feed every frame read (None for a failed read); returns an issue once per outage."""
        if frame is None:
            fault: CameraFault | None = CameraFault.NO_FRAMES
        elif frame_looks_blocked(frame, min_detail=self.min_detail):
            fault = CameraFault.BLOCKED
        else:
            fault = None
        if fault != self._fault:
            self._fault, self._since, self._reported = fault, now, False
        if fault is None or self._reported or now - self._since < self.after_s:
            return None
        self._reported = True
        what = "gives no frames" if fault is CameraFault.NO_FRAMES else "looks blocked or covered"
        return CameraIssue(fault, self._since, f"camera {what} for {now - self._since:.0f} s")
