"""A relay with nothing wired behind it (``relay.driver: sim`` on a real edge): it keeps the
position the agent asked for and logs every command, so an edge can run before its relay is
installed. The agent cannot tell it from a real relay; the log says what would have happened."""

from __future__ import annotations

import logging

from models.messages import GatePosition

log = logging.getLogger(__name__)


class LogOnlyRelay:
    def __init__(self, gate: str) -> None:
        self.gate = gate
        self._position = GatePosition.CLOSED

    def open(self, seconds: float) -> None:
        log.info("gate %s: relay (not wired) open for %.1f s", self.gate, seconds)
        self._position = GatePosition.OPEN

    def close(self) -> None:
        log.info("gate %s: relay (not wired) closed", self.gate)
        self._position = GatePosition.CLOSED

    @property
    def position(self) -> GatePosition:
        return self._position
