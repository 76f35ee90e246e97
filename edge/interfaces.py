"""Small interfaces between the edge agent and the hardware / network it drives.

Each has a real implementation (``edge/drivers``, ``edge/bus.py``) and a simulated one
(``simulators/gate.py``). The agent only ever talks to these Protocols.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from models.messages import AnyMessage, EnvelopeBase, GatePosition
from models.site import GateConfig


@runtime_checkable
class Camera(Protocol):
    """A frame source. ``read`` returns a BGR image, or None when no frame is available now."""

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


@runtime_checkable
class Relay(Protocol):
    """The barrier/door relay. The agent decides how long it stays open and calls ``close``."""

    def open(self, seconds: float) -> None: ...

    def close(self) -> None: ...

    @property
    def position(self) -> GatePosition: ...


@runtime_checkable
class PresenceSensor(Protocol):
    """Inductive loop (vehicle gate) or presence sensor: something is at the barrier now."""

    def present(self) -> bool: ...


@runtime_checkable
class DoorContact(Protocol):
    """A pedestrian gate's door contact (reed switch): whether the door leaf is open now."""

    def is_open(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class QrAttempt:
    token: str


@dataclass(frozen=True, slots=True)
class PinAttempt:
    """A unit number and a PIN typed at the keypad (``models.passes.unit_pin``)."""

    unit: str
    pin: str


@dataclass(frozen=True, slots=True)
class CardAttempt:
    card_id: str


@runtime_checkable
class CredentialReader(Protocol):
    """Keypad / QR scanner / card reader at a pedestrian gate: the next entered credential,
    or None."""

    def poll(self) -> QrAttempt | PinAttempt | CardAttempt | None: ...


MessageHandler = Callable[[AnyMessage], Awaitable[None]]


@runtime_checkable
class Bus(Protocol):
    """The edge's link to the hub. ``publish`` is durable: the message is on disk when it returns
    and is delivered (QoS 1) whenever the broker is reachable, in order."""

    @property
    def connected(self) -> bool: ...

    async def publish(
        self, topic: str, message: EnvelopeBase, *, retain: bool = False, droppable: bool = False
    ) -> int: ...

    def on_command(self, handler: MessageHandler) -> None: ...

    def on_sync(self, handler: MessageHandler) -> None: ...

    async def pending(self) -> int: ...


# What the agent builds a gate's hardware with: the real drivers (``edge.agent.hardware_factories``)
# or the simulators (``simulators.hardware``) behind the same three factories.
CameraFactory = Callable[[GateConfig], Camera]
RelayFactory = Callable[[GateConfig], Relay]
SensorFactory = Callable[[GateConfig], PresenceSensor]
HardwareFactories = tuple[CameraFactory, RelayFactory, SensorFactory]
