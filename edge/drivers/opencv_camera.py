"""Camera via OpenCV ``VideoCapture``: RTSP/HTTP URL, video file or device index.

A network camera drops out now and then; ``read`` then returns None and the capture is
re-opened, at most once every ``reopen_s`` so that a dead camera does not spin the CPU.
A file source loops at its end (useful for bench rigs and demos).
"""

from __future__ import annotations

import logging
import threading
import time

import cv2
import numpy as np

log = logging.getLogger(__name__)


def parse_source(source: str | int) -> str | int:
    """Digits mean a device index (``0`` -> /dev/video0); anything else is a URL or a path."""
    if isinstance(source, int):
        return source
    return int(source) if source.isdigit() else source


class OpenCVCamera:
    def __init__(
        self,
        source: str | int,
        *,
        width: int | None = None,
        height: int | None = None,
        reopen_s: float = 2.0,
        loop_files: bool = True,
    ) -> None:
        self.source = parse_source(source)
        if isinstance(self.source, str) and self.source.startswith("sim:"):
            raise ValueError(f"{source!r} is a simulator source; use simulators.gate")
        self.width = width
        self.height = height
        self.reopen_s = reopen_s
        self.loop_files = loop_files
        self._cap: cv2.VideoCapture | None = None
        self._last_open = -float("inf")
        self._lock = threading.Lock()
        self.failures = 0

    def _open(self) -> bool:
        now = time.monotonic()
        if now - self._last_open < self.reopen_s:
            return False
        self._last_open = now
        cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            cap.release()
            log.warning("camera %s: cannot open", self.source)
            return False
        if isinstance(self.source, int) and self.width and self.height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self._cap = cap
        return True

    def read(self) -> np.ndarray | None:
        with self._lock:
            if self._cap is None and not self._open():
                return None
            assert self._cap is not None
            ok, frame = self._cap.read()
            if ok and frame is not None:
                return frame
            if self.loop_files and self._is_file():
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self._cap.read()
                if ok and frame is not None:
                    return frame
            self.failures += 1
            log.warning("camera %s: no frame, re-opening", self.source)
            self._cap.release()
            self._cap = None
            return None

    def _is_file(self) -> bool:
        return isinstance(self.source, str) and "://" not in self.source

    def close(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None
