"""Camera via OpenCV ``VideoCapture``: RTSP/HTTP URL, video file or device index.

Live sources (URLs, device indices) are read continuously by a grabber thread that keeps only
the newest frame: ``VideoCapture`` buffers a stream, and a reader that only looks now and then
(the agent reads while a car is on the loop) would otherwise get frames seconds old. ``read``
returns that newest frame, or None when it is older than ``max_age_s`` (camera dead).
A dropped stream is re-opened, at most once every ``reopen_s``.

Files are read on demand, frame by frame, and loop at their end (bench rigs, demos).
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


def is_live(source: str | int) -> bool:
    return isinstance(source, int) or "://" in source


class OpenCVCamera:
    def __init__(
        self,
        source: str | int,
        *,
        width: int | None = None,
        height: int | None = None,
        reopen_s: float = 2.0,
        max_age_s: float = 2.0,
        loop_files: bool = True,
    ) -> None:
        self.source = parse_source(source)
        if isinstance(self.source, str) and self.source.startswith("sim:"):
            raise ValueError(f"{source!r} is a simulator source; use simulators.gate")
        self.width = width
        self.height = height
        self.reopen_s = reopen_s
        self.max_age_s = max_age_s
        self.loop_files = loop_files
        self.failures = 0
        self._cap: cv2.VideoCapture | None = None
        self._last_open = -float("inf")
        self._lock = threading.Lock()
        self._latest: tuple[float, np.ndarray] | None = None
        self._running = is_live(self.source)
        self._thread: threading.Thread | None = None
        if self._running:
            self._thread = threading.Thread(
                target=self._grab_forever, name=f"camera-{self.source}", daemon=True
            )
            self._thread.start()

    # ------------------------------------------------------------------ public

    def read(self) -> np.ndarray | None:
        if self._thread is not None:
            with self._lock:
                latest = self._latest
            if latest is None or time.monotonic() - latest[0] > self.max_age_s:
                return None
            return latest[1]
        return self._read_file()

    def close(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None

    # ------------------------------------------------------------------ internals

    def _open(self) -> cv2.VideoCapture | None:
        now = time.monotonic()
        if now - self._last_open < self.reopen_s:
            return None
        self._last_open = now
        cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            cap.release()
            log.warning("camera %s: cannot open", self.source)
            return None
        if isinstance(self.source, int) and self.width and self.height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        return cap

    def _grab_forever(self) -> None:
        cap: cv2.VideoCapture | None = None
        while self._running:
            if cap is None:
                cap = self._open()
                if cap is None:
                    time.sleep(0.1)
                    continue
                with self._lock:
                    self._cap = cap
            ok, frame = cap.read()  # blocks for the next frame: paced by the camera
            if ok and frame is not None:
                with self._lock:
                    self._latest = (time.monotonic(), frame)
                continue
            self.failures += 1
            log.warning("camera %s: stream dropped, re-opening", self.source)
            cap.release()
            cap = None
            with self._lock:
                self._cap = None
        if cap is not None:
            cap.release()

    def _read_file(self) -> np.ndarray | None:
        with self._lock:
            if self._cap is None:
                self._cap = self._open()
                if self._cap is None:
                    return None
            ok, frame = self._cap.read()
            if (not ok or frame is None) and self.loop_files:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self._cap.read()
            if ok and frame is not None:
                return frame
            self.failures += 1
            log.warning("camera %s: no frame, re-opening", self.source)
            self._cap.release()
            self._cap = None
            return None
