"""Evidence snapshot: a small JPEG crop of the frame around a slot."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from recognition.parking.geometry import Box


def crop_jpeg(frame_bgr: np.ndarray, box: Box, *, max_side: int = 320, quality: int = 80) -> bytes:
    """JPEG bytes of ``box`` (x, y, w, h) from the frame, scaled down to ``max_side``."""
    x, y, w, h = box
    fh, fw = frame_bgr.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(fw, x + w), min(fh, y + h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {box} is outside the {fw}x{fh} frame")
    crop = frame_bgr[y0:y1, x0:x1]
    scale = min(1.0, max_side / max(crop.shape[:2]))
    if scale < 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def crop_b64(frame_bgr: np.ndarray, box: Box, **kwargs: int) -> str:
    return base64.b64encode(crop_jpeg(frame_bgr, box, **kwargs)).decode("ascii")
