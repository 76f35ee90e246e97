"""Find, landmark and encode faces in gate frames with dlib through face_recognition.

One HOG pass per frame on the gate's region of interest, shrunk as far as the smallest
expected face allows (``DetectorSettings.plan``); the 68 landmarks and the 128-d encoding
are then computed at full resolution. The landmarks feed liveness, so they are computed
once and reused for the encoding. The encoding is dlib's ResNet run by onnxruntime
(``recognition/face/resnet_onnx.py``: same weights, same result, about 25x faster than the
``dlib-bin`` build); ``DetectorSettings(encoder="dlib")`` runs dlib's own code instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np
from face_recognition import api as fr_api

from recognition.face.resnet_onnx import CHIP_PADDING, INPUT_SIZE, OnnxFaceEncoder
from recognition.face.settings import DetectorSettings

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels
# Tracking window around the previous box: this fraction of the face size on each side
# covers a walking person's motion between frames at 5 fps or more.
TRACK_PAD = 0.6
# face_recognition's dlib detector, shape predictor and encoder are process-wide objects
# that are not safe to run from two threads at once (seen: a segfault with the simulator
# and a gate reader detecting concurrently). Every call into them holds this lock.
DLIB_LOCK = threading.Lock()
_ONNX_ENCODER: OnnxFaceEncoder | None = None
_ONNX_LOCK = threading.Lock()


def onnx_encoder() -> OnnxFaceEncoder:
    """The process-wide onnxruntime encoder, built on first use (about half a second)."""
    global _ONNX_ENCODER
    with _ONNX_LOCK:
        if _ONNX_ENCODER is None:
            _ONNX_ENCODER = OnnxFaceEncoder(threads=1)
        return _ONNX_ENCODER


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
        self._onnx = onnx_encoder() if self.settings.encoder == "onnx" else None

    def observe(
        self,
        rgb: np.ndarray,
        *,
        encode: bool = True,
        max_faces: int | None = None,
        near: Box | None = None,
    ) -> list[FaceObservation]:
        """Faces in ``rgb`` (H, W, 3 uint8), largest first; at most ``max_faces`` of them.

        ``near``: the box of the face in the previous frame. The search then starts in a
        window around it (a fraction of the frame: much cheaper) and falls back to the
        whole region of interest when the face is not there.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 frame, got {rgb.dtype} {rgb.shape}")
        found: list[tuple[dlib.rectangle, float]] = []
        if near is not None:
            x, y, w, h = near
            pad = int(max(w, h) * TRACK_PAD)
            ox, oy, region = self._region(rgb, (x - pad, y - pad, w + 2 * pad, h + 2 * pad))
            found = self._detect(region)
        if not found:
            ox, oy, region = self._region(rgb, self.settings.roi)
            found = self._detect(region)
        found.sort(key=lambda r: -r[0].area())
        faces = []
        for rect, score in found[:max_faces]:
            with DLIB_LOCK:
                shape = fr_api.pose_predictor_68_point(region, rect)
            points = np.array([(p.x + ox, p.y + oy) for p in shape.parts()], dtype=np.float32)
            encoding = self._encode(region, shape) if encode else None
            box = (rect.left() + ox, rect.top() + oy, rect.width(), rect.height())
            faces.append(FaceObservation(box, score, points, encoding))
        return faces

    def encode(self, rgb: np.ndarray, face: FaceObservation) -> FaceObservation:
        """``face`` (observed without encoding) with its encoding, from its landmarks."""
        return FaceObservation(face.box, face.score, face.landmarks, self.encoding(rgb, face))

    def encoding(self, rgb: np.ndarray, face: FaceObservation) -> np.ndarray:
        """The 128-d encoding of an observed face, from its landmarks."""
        x, y, w, h = face.box
        rect = dlib.rectangle(x, y, x + w - 1, y + h - 1)
        parts = [dlib.point(round(float(px)), round(float(py))) for px, py in face.landmarks]
        return self._encode(rgb, dlib.full_object_detection(rect, parts))

    def _encode(self, image: np.ndarray, shape: dlib.full_object_detection) -> np.ndarray:
        if self._onnx is not None:
            # The same aligned chip dlib's compute_face_descriptor cuts (150 px, 0.25 pad).
            chip = dlib.get_face_chip(image, shape, INPUT_SIZE, CHIP_PADDING)
            encoding: np.ndarray = self._onnx.encode_chips(chip)[0]  # float32 already
            return encoding
        with DLIB_LOCK:
            descriptor = fr_api.face_encoder.compute_face_descriptor(
                image, shape, self.settings.jitters
            )
        return np.asarray(descriptor, dtype=np.float32)

    def _region(
        self, rgb: np.ndarray, window: tuple[int, int, int, int] | None
    ) -> tuple[int, int, np.ndarray]:
        """The part of the frame to search: ``window`` clipped to the frame and the ROI."""
        height, width = rgb.shape[:2]
        x0, y0, x1, y1 = 0, 0, width, height
        for limit in (window, self.settings.roi):
            if limit is not None:
                x, y, w, h = limit
                x0, y0, x1, y1 = max(x0, x), max(y0, y), min(x1, x + w), min(y1, y + h)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"search window {window} / roi {self.settings.roi} is empty")
        if (x0, y0, x1, y1) == (0, 0, width, height):
            return 0, 0, rgb
        return x0, y0, np.ascontiguousarray(rgb[y0:y1, x0:x1])

    def _detect(self, region: np.ndarray) -> list[tuple[dlib.rectangle, float]]:
        """HOG on the shrunk region; rectangles are returned in region pixels."""
        small = region
        if self.scale < 1.0:
            small = cv2.resize(
                region, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA
            )
        with DLIB_LOCK:
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
