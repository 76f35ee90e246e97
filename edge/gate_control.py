"""One gate's barrier: open for a while, close again, and report every position change.

Shared by the recognition pipelines and by remote commands. The barrier never comes down on a
vehicle: while ``hold_open`` says something is still there, closing is postponed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from edge.context import EdgeContext
from edge.interfaces import Relay
from models.messages import Alarm, AlarmType, GatePosition, GateState, Kind, Severity

log = logging.getLogger(__name__)


class GateControl:
    def __init__(
        self,
        gate_id: str,
        relay: Relay,
        ctx: EdgeContext,
        *,
        hold_open: Callable[[], bool] | None = None,
        hold_poll_s: float = 0.25,
    ) -> None:
        self.gate_id = gate_id
        self.relay = relay
        self.ctx = ctx
        self.hold_open = hold_open
        self.hold_poll_s = hold_poll_s
        self._close_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def position(self) -> GatePosition:
        return self.relay.position

    async def vehicle_present(self) -> bool:
        """Whether the gate's detector sees a vehicle at the barrier now (False without one)."""
        return self.hold_open is not None and await asyncio.to_thread(self.hold_open)

    async def announce(self) -> None:
        """Publish the current position (at start-up, so the hub's retained state is fresh)."""
        await self._state(self.relay.position, "edge started")

    async def open_for(self, seconds: float, cause: str) -> bool:
        """Open now and close after ``seconds`` (a later open extends the time). False on fault."""
        async with self._lock:
            self._cancel_close()
            was = self.relay.position
            try:
                self.relay.open(seconds)
            except OSError as exc:
                await self._fault(f"open failed: {exc}")
                return False
            if was is not GatePosition.OPEN:
                await self._state(GatePosition.OPEN, cause)
            self._close_task = asyncio.create_task(self._close_later(seconds))
        return True

    async def close(self, cause: str) -> bool:
        async with self._lock:
            self._cancel_close()
            return await self._close(cause)

    async def stop(self) -> None:
        """Agent shutdown: a barrier must not stay open unattended (unless a car is under it)."""
        self._cancel_close()
        if self.relay.position is GatePosition.OPEN and not await self.vehicle_present():
            async with self._lock:
                await self._close("edge stopping")

    def _cancel_close(self) -> None:
        if self._close_task is not None and self._close_task is not asyncio.current_task():
            self._close_task.cancel()
        self._close_task = None

    async def _close_later(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        while self.hold_open is not None and await asyncio.to_thread(self.hold_open):
            await asyncio.sleep(self.hold_poll_s)
        async with self._lock:
            self._close_task = None
            await self._close("open time elapsed")

    async def _close(self, cause: str) -> bool:
        was = self.relay.position
        try:
            self.relay.close()
        except OSError as exc:
            await self._fault(f"close failed: {exc}")
            return False
        if was is not GatePosition.CLOSED:
            await self._state(GatePosition.CLOSED, cause)
        return True

    async def _state(self, position: GatePosition, cause: str) -> None:
        await self.ctx.set_state(
            Kind.GATE_STATE, GateState(gate=self.gate_id, position=position, cause=cause[:200])
        )

    async def _fault(self, detail: str) -> None:
        log.error("gate %s: %s", self.gate_id, detail)
        with contextlib.suppress(Exception):
            await self._state(GatePosition.FAULT, detail)
        await self.ctx.emit(
            Kind.ALARM,
            Alarm(
                type=AlarmType.GATE_FAULT,
                gate=self.gate_id,
                severity=Severity.CRITICAL,
                detail=detail[:500],
            ),
        )
