"""A simulated pedestrian gate: camera, presence sensor, door relay, keypad/QR/card reader.

``walk_up(photo, live=...)`` renders a real face photo into gate frames (simulators/people.py:
a live person or a photo held up) and puts the person in front of the camera: the presence
sensor reports them until the camera has served every frame, so the pipeline sees the
whole passage however slowly it reads. ``present_qr``/``enter_pin``/``present_card`` queue
a non-face credential for the reader. The door contact opens by itself when someone walks
through the unlocked door; ``force_door`` and ``prop_door`` play the two door alarms.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from edge.interfaces import CardAttempt, PinAttempt, QrAttempt
from recognition.face.detector import load_rgb
from simulators.gate import SimRelay
from simulators.people import render_gate_sequence

CredentialAttempt = QrAttempt | PinAttempt | CardAttempt
GAP_S = 0.5  # empty walkway between two people (the pipeline polls presence every 0.1 s)
# After the relay unlocks, the person pushes the door open this long later and it swings
# shut this long after that.
WALK_THROUGH_AFTER_S = 0.4
WALK_THROUGH_OPEN_S = 1.5


class SimDoorContact:
    """The door's reed switch. Open while someone walks through after an unlock (every
    relay open), and during the spans ``force``/``prop`` scheduled."""

    def __init__(self, relay: SimRelay, clock=time.monotonic) -> None:
        self.relay = relay
        self._clock = clock
        self._lock = threading.Lock()
        self._spans: list[tuple[float, float]] = []

    def open_for(self, seconds: float, after_s: float = 0.0) -> None:
        now = self._clock()
        with self._lock:
            self._spans.append((now + after_s, now + after_s + seconds))

    def is_open(self) -> bool:
        now = self._clock()
        with self._lock:
            self._spans = [s for s in self._spans if s[1] > now - 60]
            if any(start <= now < end for start, end in self._spans):
                return True
        for event in reversed(self.relay.opens()):
            start = event.at + WALK_THROUGH_AFTER_S
            if start <= now < start + WALK_THROUGH_OPEN_S:
                return True
            if event.at < now - 60:
                break
        return False


class SimCredentialReader:
    """Keypad + QR scanner + card reader: what was entered, one attempt per ``poll``."""

    def __init__(self) -> None:
        self._queue: deque[CredentialAttempt] = deque()
        self._lock = threading.Lock()

    def put(self, attempt: CredentialAttempt) -> None:
        with self._lock:
            self._queue.append(attempt)

    def poll(self) -> CredentialAttempt | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)


class SimulatedPedestrianGate:
    def __init__(
        self, gate_id: str, *, size: tuple[int, int] = (640, 480), frames: int = 15, seed: int = 0
    ) -> None:
        self.gate_id = gate_id
        self.size = size
        self.frames_per_passage = frames
        self.relay = SimRelay()
        self.credential_reader = SimCredentialReader()
        self.door = SimDoorContact(self.relay)
        self.camera = SimPedestrianCamera(self)
        self.sensor = SimPresenceSensor(self)
        self._seed = seed
        self._frames: deque[np.ndarray] = deque()
        self._lock = threading.Lock()
        self._empty: np.ndarray | None = None
        self._cleared_at = 0.0
        self.passages = 0

    def walk_up(self, person_image: np.ndarray | Path | str, live: bool = True) -> None:
        """Someone (``live``) or a photo of them (not ``live``) at the gate. Renders the
        frames first (CPU: call it off the event loop), then ``step_up``."""
        self.step_up(self.render(person_image, live))

    def render(self, person_image: np.ndarray | Path | str, live: bool = True) -> list[np.ndarray]:
        """The BGR camera frames of one passage (a new seed each time)."""
        image = person_image if isinstance(person_image, np.ndarray) else load_rgb(person_image)
        with self._lock:
            self._seed += 1
            seed = self._seed
        rgb = render_gate_sequence(
            image, live=live, frames=self.frames_per_passage, seed=seed, size=self.size
        )
        return [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in rgb]

    def step_up(self, frames: list[np.ndarray], timeout_s: float = 60.0) -> None:
        """Put a passage's frames in front of the camera once the previous person has left
        and the walkway has been empty for ``GAP_S`` (a presence sensor sees the gap
        between two people; without it their frames would be one passage)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._frames and time.monotonic() - self._cleared_at >= GAP_S:
                    self._frames.extend(frames)
                    self.passages += 1
                    return
            time.sleep(0.02)
        raise TimeoutError(f"gate {self.gate_id}: the walkway did not clear")

    def present_qr(self, token: str) -> None:
        self.credential_reader.put(QrAttempt(token))

    def enter_pin(self, unit: str, pin: str) -> None:
        self.credential_reader.put(PinAttempt(unit, pin))

    def present_card(self, card_id: str) -> None:
        self.credential_reader.put(CardAttempt(card_id))

    def force_door(self, seconds: float = 2.0) -> None:
        """Someone pulls the locked door open (no credential, no unlock): door_forced."""
        self.door.open_for(seconds)

    def prop_door(self, seconds: float) -> None:
        """The door is wedged open for ``seconds``; longer than the gate's ``held_open_s``
        raises door_held (and, with no unlock before it, door_forced first)."""
        self.door.open_for(seconds)

    @property
    def occupied(self) -> bool:
        """Someone is still in front of the camera or a credential is still unread."""
        with self._lock:
            in_view = bool(self._frames)
        return in_view or self.credential_reader.pending > 0

    def in_view(self) -> bool:
        with self._lock:
            return bool(self._frames)

    def next_frame(self) -> np.ndarray:
        with self._lock:
            if self._frames:
                frame = self._frames.popleft()
                if not self._frames:
                    self._cleared_at = time.monotonic()
                return frame
        if self._empty is None:
            from simulators.people import empty_gate_frame

            rgb = empty_gate_frame(self._seed, self.size)
            self._empty = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        return self._empty.copy()


class SimPedestrianCamera:
    """BGR frames, like a real camera driver (edge.interfaces.Camera)."""

    def __init__(self, gate: SimulatedPedestrianGate) -> None:
        self.gate = gate

    def read(self) -> np.ndarray | None:
        return self.gate.next_frame()

    def close(self) -> None:
        pass


class SimPresenceSensor:
    """A person in the walkway (e.g. an IR beam). Pedestrian gates never hold a door for it."""

    is_vehicle_detector = False

    def __init__(self, gate: SimulatedPedestrianGate) -> None:
        self.gate = gate
        self.credential_reader = gate.credential_reader  # the reader on the same gate unit
        self.door_contact = gate.door  # and the door contact

    def present(self) -> bool:
        return self.gate.in_view()
