"""Is a photo good enough to enrol? Exactly one face, large, sharp, whole, roughly frontal.

``assess`` is pure (arrays in, report out); ``check_image`` runs the face stack first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from recognition.face.detector import FaceObservation, FaceStack
from recognition.face.settings import DetectorSettings

MAX_SIDE_PX = 1600


@dataclass(frozen=True, slots=True)
class QualitySettings:
    """Defaults measured on the fixture portraits (bench/face.py prints them):

    ``min_sharpness``: variance of the Laplacian of the face resized to 128x128. Sharp
    portraits measured 156-540; the same blurred by a 3.6 px Gaussian 6-14.
    ``max_yaw``: nose-tip offset from the middle of the outer eye corners, as a fraction of
    half their distance (0 frontal, about 1 in profile); the turned obama2.jpg is -0.41.
    ``max_roll_deg``: tilt of the eye line. ``margin``: the face box must lie this
    fraction of its size inside the image (a face cut by the border is refused).
    """

    min_face_px: int = 80
    min_sharpness: float = 40.0
    max_yaw: float = 0.5
    max_roll_deg: float = 20.0
    margin: float = 0.05


@dataclass(frozen=True, slots=True)
class QualityReport:
    problems: list[str] = field(default_factory=list)
    face: FaceObservation | None = None
    sharpness: float = 0.0
    yaw: float = 0.0
    roll_deg: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and self.face is not None


def sharpness(gray: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x, y, w, h = box
    crop = gray[max(0, y) : y + h, max(0, x) : x + w]
    if crop.size == 0:
        return 0.0
    crop = cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(crop, cv2.CV_64F).var())


def yaw_and_roll(landmarks: np.ndarray) -> tuple[float, float]:
    outer_right, outer_left, nose_tip = landmarks[36], landmarks[45], landmarks[30]
    span = outer_left - outer_right
    along = float(np.dot(nose_tip - outer_right, span) / max(np.dot(span, span), 1e-6))
    roll = float(np.degrees(np.arctan2(span[1], span[0])))
    return (along - 0.5) * 2.0, roll


def assess(
    faces: list[FaceObservation], gray: np.ndarray, settings: QualitySettings | None = None
) -> QualityReport:
    s = settings or QualitySettings()
    if len(faces) != 1:
        return QualityReport([f"expected exactly one face, found {len(faces)}"])
    face = faces[0]
    problems = []
    if face.size < s.min_face_px:
        problems.append(f"face is {face.size} px, below the minimum {s.min_face_px} px")
    x, y, w, h = face.box
    pad = s.margin * face.size
    height, width = gray.shape[:2]
    if x < pad or y < pad or x + w > width - pad or y + h > height - pad:
        problems.append("face is cut by or touches the image border")
    sharp = sharpness(gray, face.box)
    if sharp < s.min_sharpness:
        problems.append(f"face is blurred (sharpness {sharp:.0f} < {s.min_sharpness:.0f})")
    yaw, roll = yaw_and_roll(face.landmarks)
    if abs(yaw) > s.max_yaw:
        problems.append(f"face is turned sideways (yaw {yaw:+.2f}, limit {s.max_yaw})")
    if abs(roll) > s.max_roll_deg:
        problems.append(f"head is tilted {roll:+.0f} degrees (limit {s.max_roll_deg:.0f})")
    if face.encoding is None:
        problems.append("no encoding computed")
    return QualityReport(problems, face, sharp, yaw, roll)


def enrolment_stack() -> FaceStack:
    """Enrolment photos are close-ups of any size: look for faces from the minimum up."""
    return FaceStack(DetectorSettings(min_face_px=QualitySettings().min_face_px))


def check_image(
    rgb: np.ndarray, stack: FaceStack | None = None, settings: QualitySettings | None = None
) -> QualityReport:
    stack = stack or enrolment_stack()
    longest = max(rgb.shape[:2])
    if longest > MAX_SIDE_PX:  # phone photos: a face in them stays far above the minimum
        k = MAX_SIDE_PX / longest
        rgb = cv2.resize(rgb, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    faces = stack.observe(rgb, encode=True)
    return assess(faces, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), settings)
