"""What every gate pipeline on one edge shares: identity, the bus, the cached lists, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from edge.interfaces import Bus
from edge.vehicle_gate.decisions import CapacityCheck, LocalLists
from models import topics
from models.messages import AnyMessage, Kind, Strict, make_message, utcnow


@dataclass
class EdgeContext:
    site: str
    device: str
    bus: Bus
    lists: Callable[[], LocalLists]
    now: Callable[[], datetime] = utcnow
    capacity: CapacityCheck | None = None  # set by the car-park pipeline (edge/car_park)

    def message(self, kind: Kind, payload: Strict, **envelope: object) -> AnyMessage:
        return make_message(kind, site=self.site, device=self.device, payload=payload, **envelope)

    async def emit(
        self, kind: Kind, payload: Strict, *, droppable: bool = False, **envelope: object
    ) -> AnyMessage:
        """An event (not retained), durable through the outbox; returns the envelope sent."""
        message = self.message(kind, payload, ts=self.now(), **envelope)
        await self.bus.publish(
            str(topics.event(self.site, self.device, kind.value)), message, droppable=droppable
        )
        return message

    async def set_state(self, kind: Kind, payload: Strict) -> AnyMessage:
        """Last known state (retained), durable through the outbox."""
        message = self.message(kind, payload, ts=self.now())
        await self.bus.publish(
            str(topics.state(self.site, self.device, kind.value)), message, retain=True
        )
        return message
