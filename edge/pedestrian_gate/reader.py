"""Per-gate face reading: follow the face in front of the gate across frames, check that it
is live, match it, and report one ``FaceAttempt`` per passage.

Detection runs on every frame (cheap when tracking: a window around the last box);
the expensive 128-d encoding runs only on the first frame of a passage and on the frame
that completes the decision, and the match uses their mean. No I/O: frames in, readings out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.pedestrian_gate.rules import FaceAttempt
from models.face_bundle import BLACKLIST
from models.messages import FaceMatch
from recognition.face.detector import Box, FaceStack
from recognition.face.liveness import LivenessChecker, LivenessVerdict
from recognition.face.matcher import FaceMatcher, Match
from recognition.face.settings import LivenessSettings


@dataclass(frozen=True, slots=True)
class FaceReading:
    attempt: FaceAttempt
    box: Box
    frames: int
    liveness: LivenessVerdict
    # The face (RGB, with some margin) from the deciding frame. Kept in memory for an alarm's
    # evidence only; face_match events never carry it.
    crop: np.ndarray | None = None


CROP_MARGIN = 0.25  # of the face box on each side: the whole head, not just the features


def face_crop(rgb: np.ndarray, box: Box) -> np.ndarray:
    """A copy of the face region with a margin, clipped to the frame."""
    x, y, w, h = box
    pad = int(max(w, h) * CROP_MARGIN)
    height, width = rgb.shape[:2]
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(width, x + w + pad), min(height, y + h + pad)
    return rgb[y0:y1, x0:x1].copy()


def face_match_payload(reading: FaceReading, gate: str) -> FaceMatch:
    """The event for a reading: who and how close, never the template."""
    distance = reading.attempt.distance
    return FaceMatch(
        gate=gate,
        person=reading.attempt.person,
        distance=round(distance, 4) if np.isfinite(distance) else None,
        live=reading.liveness.live,
        box=reading.box,
    )


def _same_track(previous: Box, current: Box) -> bool:
    """The face moved less than its own size: the same person, not the next one."""
    (px, py, pw, ph), (cx, cy, cw, ch) = previous, current
    shift = np.hypot((px + pw / 2) - (cx + cw / 2), (py + ph / 2) - (cy + ch / 2))
    return bool(shift < max(pw, cw)) and 0.6 < cw / max(pw, 1) < 1.6


class GateFaceReader:
    def __init__(
        self,
        stack: FaceStack,
        matcher: FaceMatcher,
        liveness: LivenessSettings | None = None,
        max_frames: int = 15,
        lost_after: int = 2,
    ) -> None:
        self.stack = stack
        self.matcher = matcher
        self.liveness = LivenessChecker(liveness)
        self.max_frames = max_frames
        self.lost_after = lost_after
        self._reset()

    def set_matcher(self, matcher: FaceMatcher) -> None:
        """A new bundle arrived: match with it from the next passage on."""
        self.matcher = matcher

    def _reset(self) -> None:
        self.liveness.reset()
        self._box: Box | None = None
        self._missing = 0
        self._frames = 0
        self._encodings: list[np.ndarray] = []
        self._reported = False
        self._crop: np.ndarray | None = None

    def _match(self) -> Match:
        return self.matcher.match(np.mean(self._encodings, axis=0))

    def feed(self, rgb: np.ndarray) -> FaceReading | None:
        """One camera frame (RGB). Returns a reading once per passage, else None."""
        faces = self.stack.observe(rgb, encode=False, max_faces=1, near=self._box)
        if not faces:
            self._missing += 1
            if self._missing > self.lost_after:
                self._reset()
            return None
        face = faces[0]
        if self._box is not None and not _same_track(self._box, face.box):
            self._reset()
        self._box, self._missing = face.box, 0
        if self._reported:
            return None  # already decided for this person; wait until they leave
        self._crop = face_crop(rgb, face.box)
        self._frames += 1
        verdict = self.liveness.update(face.landmarks, rgb)
        first = not self._encodings
        if first:
            self._encodings.append(self.stack.encoding(rgb, face))
        match = self._match()
        done = verdict.live or match.role == BLACKLIST or self._frames >= self.max_frames
        if not done:
            return None
        if not first:  # the deciding frame: the face that proved live is the one matched
            self._encodings.append(self.stack.encoding(rgb, face))
            match = self._match()
        self._reported = True
        attempt = FaceAttempt(match.person, match.role, match.distance, verdict.live)
        return FaceReading(attempt, face.box, self._frames, verdict, self._crop)
