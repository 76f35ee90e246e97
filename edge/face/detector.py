"""Find, landmark and encode faces in gate frames with dlib through face_recognition.

One HOG pass per frame on the gate's region of interest, shrunk as far as the smallest
expected face allows (``DetectorSettings.plan``); the 68 landmarks and the 128-d encoding
are then computed at full resolution. The landmarks feed liveness, so they are computed
once and reused for the encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np
from face_recognition import api as fr_api

from edge.face.settings import DetectorSettings

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels


@dataclass(frozen=True, slots=True)
class FaceObservation:
    """One face in one frame. ``encoding`` is None when encoding was not asked for."""

    box: Box
    score: float  # HOG detector score; real faces here score about 0.9-2, clutter below 0.3
    landmarks: np.ndarray  # (68, 2) float32, frame pixels, dlib's iBUG 68-point order
    encoding: np.ndarray | None  # (128,) float32

    @property
    def size(self) -> int:
        return max(self.box[2], self.box[3])


def load_rgb(path: Path | str) -> np.ndarray:
    """Read an image file as an RGB uint8 array (raises ValueError if unreadable)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class FaceStack:
    """HOG detection + 68-point landmarks + dlib ResNet encoding, tuned for gate frames."""

    def __init__(self, settings: DetectorSettings | None = None, min_score: float = 0.3) -> None:
        self.settings = settings or DetectorSettings()
        self.min_score = min_score
        self.scale, self.upsample = self.settings.plan()

    def observe(
        self, rgb: np.ndarray, *, encode: bool = True, max_faces: int | None = None
    ) -> list[FaceObservation]:
        """Faces in ``rgb`` (H, W, 3 uint8), largest first; at most ``max_faces`` of them."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 frame, got {rgb.dtype} {rgb.shape}")
        ox, oy, region = self._region(rgb)
        found = sorted(self._detect(region), key=lambda r: -r[0].area())
        if max_faces is not None:
            found = found[:max_faces]
        faces = []
        for rect, score in found:
            shape = fr_api.pose_predictor_68_point(region, rect)
            points = np.array([(p.x + ox, p.y + oy) for p in shape.parts()], dtype=np.float32)
            encoding = None
            if encode:
                descriptor = fr_api.face_encoder.compute_face_descriptor(
                    region, shape, self.settings.jitters
                )
                encoding = np.asarray(descriptor, dtype=np.float32)
            box = (rect.left() + ox, rect.top() + oy, rect.width(), rect.height())
            faces.append(FaceObservation(box, score, points, encoding))
        return faces

    def _region(self, rgb: np.ndarray) -> tuple[int, int, np.ndarray]:
        if self.settings.roi is None:
            return 0, 0, rgb
        x, y, w, h = self.settings.roi
        height, width = rgb.shape[:2]
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(width, x + w), min(height, y + h)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"roi {self.settings.roi} lies outside the {width}x{height} frame")
        return x0, y0, np.ascontiguousarray(rgb[y0:y1, x0:x1])

    def _detect(self, region: np.ndarray) -> list[tuple[dlib.rectangle, float]]:
        """HOG on the shrunk region; rectangles are returned in region pixels."""
        small = region
        if self.scale < 1.0:
            small = cv2.resize(
                region, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA
            )
        rects, scores, _ = fr_api.face_detector.run(small, self.upsample, 0.0)
        height, width = region.shape[:2]
        out = []
        for rect, score in zip(rects, scores, strict=True):
            if score < self.min_score:
                continue
            k = 1.0 / self.scale
            left, top = max(0, round(rect.left() * k)), max(0, round(rect.top() * k))
            right = min(width - 1, round(rect.right() * k))
            bottom = min(height - 1, round(rect.bottom() * k))
            out.append((dlib.rectangle(left, top, right, bottom), float(score)))
        return out
