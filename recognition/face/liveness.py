"""Liveness from one face's landmarks (and, optionally, pixels) over consecutive frames.

A printed photo is flat and frozen: however it is moved, tilted or turned in front of
the camera, one frame maps onto another by a single homography (the perspective map of
a plane), and after that map every part of the face looks the same. A live face is
neither: eyes blink, the mouth moves, the nose shifts against the cheeks as the head
turns. So for each frame the checker

* maps the face back onto the first frame through the homography of its rigid points
  (brows, nose, eye corners), and compares the eye patches with the first frame's
  (normalised cross-correlation), with the nose patch as a control that must still match:
  both eyes closing or moving change, a photo's eyes do not;
* measures the eye aspect ratio (EAR) in that normalised pose, for blinks that show in
  the landmarks;
* measures the residual of the best homography between consecutive frames' landmarks:
  landmark noise for a photo, more for a face that turns or talks.

Identical frames (a still, a replayed frame) give none of these and are ``static``.
All of it is pure numpy/OpenCV on arrays; no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from recognition.face.settings import LivenessSettings

# iBUG 68-point indices.
RIGHT_EYE = np.arange(36, 42)  # the subject's right eye, left in the image
LEFT_EYE = np.arange(42, 48)
NOSE = np.arange(27, 36)
INNER_FACE = np.arange(17, 68)  # brows, nose, eyes, mouth; the jaw line follows the background
# Points a blink does not move: brows, nose and the eye corners.
RIGID_ANCHORS = np.concatenate((np.arange(17, 36), [36, 39, 42, 45]))
CANONICAL_SIZE = 128  # side of the pose-normalised face image the patches are cut from
CANONICAL_EYES = np.array([[40.0, 50.0], [88.0, 50.0]])


@dataclass(frozen=True, slots=True)
class LivenessVerdict:
    live: bool
    reason: str  # collecting | blink | eye_change | non_rigid_motion | rigid_motion_only | static
    frames: int
    blinks: int  # EAR blinks
    eye_changes: int  # frames whose two eyes differ from the first frame's, the nose matching
    nonrigid_pairs: int
    max_residual: float  # largest homography residual, fraction of the inter-ocular distance
    min_eye_ncc: float  # lowest per-frame eye NCC (the higher eye of each frame); 1.0: no pixels


def eye_aspect_ratio(eye: np.ndarray) -> float:
    """Soukupova & Cech's EAR of six eye points: eyelid gaps over eye width."""
    gaps = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    width = np.linalg.norm(eye[0] - eye[3])
    return float(gaps / (2.0 * width)) if width > 0 else 0.0


def interocular(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[RIGHT_EYE].mean(0) - landmarks[LEFT_EYE].mean(0)))


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    h, _ = cv2.findHomography(src.astype(np.float64), dst.astype(np.float64), 0)
    return h


def _apply(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)


def planar_residual(previous: np.ndarray, current: np.ndarray) -> float:
    """RMS landmark residual after the best homography previous -> current, as a fraction
    of the inter-ocular distance. About landmark noise for a moved photo; more for a face."""
    src, dst = previous[INNER_FACE], current[INNER_FACE]
    h = _homography(src, dst)
    if h is None:
        return 0.0
    rms = float(np.sqrt(np.mean(np.sum((_apply(h, src) - dst) ** 2, axis=1))))
    return rms / max(interocular(current), 1e-6)


def mean_motion(previous: np.ndarray, current: np.ndarray) -> float:
    shift = np.linalg.norm(current[INNER_FACE] - previous[INNER_FACE], axis=1).mean()
    return float(shift) / max(interocular(current), 1e-6)


def count_blinks(ears: list[float], drop: float, recover: float) -> int:
    """Closings below ``drop`` x open level followed by reopening above ``recover`` x it."""
    if len(ears) < 3:
        return 0
    open_level = float(np.percentile(ears, 80))
    blinks, closed = 0, False
    for ear in ears:
        if not closed and ear < drop * open_level:
            closed = True
        elif closed and ear > recover * open_level:
            blinks, closed = blinks + 1, False
    return blinks


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 1e-6 else 1.0


class _Reference:
    """The first frame: its landmarks, its map into the canonical face, its patches."""

    def __init__(self, landmarks: np.ndarray, gray: np.ndarray | None) -> None:
        self.landmarks = landmarks
        eyes = np.array([landmarks[RIGHT_EYE].mean(0), landmarks[LEFT_EYE].mean(0)])
        m, _ = cv2.estimateAffinePartial2D(eyes, CANONICAL_EYES)
        self.to_canonical = np.vstack([m, [0.0, 0.0, 1.0]])
        canonical = _apply(self.to_canonical, landmarks)
        self.boxes = [self._box(canonical[idx]) for idx in (RIGHT_EYE, LEFT_EYE, NOSE)]
        self.patches = None if gray is None else self.cut(gray, self.to_canonical)

    @staticmethod
    def _box(points: np.ndarray) -> tuple[slice, slice]:
        (cx, cy), span = points.mean(0), np.ptp(points, axis=0)
        w = max(span[0], 10.0) * 1.4
        h = max(w * 0.6, span[1] * 1.3)

        def clip(v: float) -> int:
            return int(min(max(v, 0), CANONICAL_SIZE))

        return slice(clip(cy - h / 2), clip(cy + h / 2)), slice(clip(cx - w / 2), clip(cx + w / 2))

    def cut(self, gray: np.ndarray, to_canonical: np.ndarray) -> list[np.ndarray]:
        size = (CANONICAL_SIZE, CANONICAL_SIZE)
        face = cv2.warpPerspective(gray, to_canonical, size, flags=cv2.INTER_AREA)
        face = cv2.GaussianBlur(face.astype(np.float32), (0, 0), 1.0)  # forgive 1 px misfit
        return [face[rows, cols] for rows, cols in self.boxes]


@dataclass(frozen=True, slots=True)
class _FrameMetrics:
    ear: float
    eye_ncc: float  # the higher of the two eyes' NCC with the first frame (1.0: no pixels)
    control_ncc: float
    residual: float  # vs the previous frame
    motion: float  # vs the previous frame


class LivenessChecker:
    """Feed one tracked face frame by frame; read the verdict after each frame.

    ``update(landmarks, gray)``: the (68, 2) landmarks in frame pixels and, when available,
    the grey frame they came from (enables the eye-patch check). Call ``reset`` when the
    face leaves or another face takes its place.
    """

    def __init__(self, settings: LivenessSettings | None = None) -> None:
        self.settings = settings or LivenessSettings()
        self._reference: _Reference | None = None
        self._previous: np.ndarray | None = None
        self._metrics: deque[_FrameMetrics] = deque(maxlen=self.settings.window)

    def reset(self) -> None:
        self._reference = None
        self._previous = None
        self._metrics.clear()

    def update(self, landmarks: np.ndarray, gray: np.ndarray | None = None) -> LivenessVerdict:
        points = np.asarray(landmarks, dtype=np.float64).reshape(68, 2)
        if gray is not None and gray.ndim == 3:
            gray = cv2.cvtColor(gray, cv2.COLOR_RGB2GRAY)
        if self._reference is None:
            self._reference = _Reference(points, gray)
        self._metrics.append(self._measure(points, gray))
        self._previous = points
        return self.verdict()

    def _measure(self, points: np.ndarray, gray: np.ndarray | None) -> _FrameMetrics:
        ref = self._reference
        assert ref is not None
        to_reference = _homography(points[RIGID_ANCHORS], ref.landmarks[RIGID_ANCHORS])
        if to_reference is None:
            to_reference = np.eye(3)
        posed = _apply(to_reference, points)
        ear = (eye_aspect_ratio(posed[RIGHT_EYE]) + eye_aspect_ratio(posed[LEFT_EYE])) / 2.0
        eye_ncc = control_ncc = 1.0
        if gray is not None and ref.patches is not None:
            patches = ref.cut(gray, ref.to_canonical @ to_reference)
            right, left, nose = (_ncc(a, b) for a, b in zip(ref.patches, patches, strict=True))
            # A blink shuts both eyes; a landmark misfit on a small face disturbs one patch.
            eye_ncc, control_ncc = max(right, left), nose
        previous = self._previous if self._previous is not None else points
        return _FrameMetrics(
            ear,
            eye_ncc,
            control_ncc,
            planar_residual(previous, points),
            mean_motion(previous, points),
        )

    def verdict(self) -> LivenessVerdict:
        s = self.settings
        metrics = list(self._metrics)
        blinks = count_blinks([m.ear for m in metrics], s.blink_drop, s.blink_recover)
        eye_changes = sum(
            m.eye_ncc < s.eye_change_ncc and m.control_ncc >= s.control_ncc for m in metrics
        )
        pairs = metrics[1:]
        nonrigid = sum(m.residual > s.nonrigid_residual for m in pairs)
        max_residual = max((m.residual for m in pairs), default=0.0)
        min_eye_ncc = min((m.eye_ncc for m in metrics), default=1.0)

        def verdict(live: bool, reason: str) -> LivenessVerdict:
            return LivenessVerdict(
                live, reason, len(metrics), blinks, eye_changes, nonrigid, max_residual, min_eye_ncc
            )

        if len(metrics) < s.min_frames:
            return verdict(False, "collecting")
        if blinks > 0:
            return verdict(True, "blink")
        if eye_changes > 0:
            return verdict(True, "eye_change")
        if nonrigid >= s.nonrigid_pairs:
            return verdict(True, "non_rigid_motion")
        if all(m.motion < s.still_motion for m in pairs):
            return verdict(False, "static")
        return verdict(False, "rigid_motion_only")
