"""The hub's health: is it alive, and is it ready (storing and acknowledging)?

``ready`` is false while storage fails (a ``StorageFault``: nothing is acknowledged, the
broker keeps the messages) or while the broker connection is down. Served on ``/readyz``
(hub/ops.py, and the console); ``/healthz`` only says the process answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.storage_fault import StorageFault


@dataclass
class StorageFaultState:
    since: datetime
    kind: str
    detail: str
    attempts: int = 1
    held: int = 0  # messages left unacknowledged for the broker to resend


class HubHealth:
    def __init__(self) -> None:
        self.storage_fault: StorageFaultState | None = None
        self.broker_connected = False
        self.faults = 0  # storage faults since start (each ended by a recovery or still on)

    def storage_failed(self, fault: StorageFault, at: datetime) -> bool:
        """Record a failed attempt; True if this starts a new fault."""
        if self.storage_fault is None:
            self.storage_fault = StorageFaultState(at, fault.kind, fault.detail)
            self.faults += 1
            return True
        self.storage_fault.attempts += 1
        self.storage_fault.kind, self.storage_fault.detail = fault.kind, fault.detail
        return False

    def storage_recovered(self) -> StorageFaultState | None:
        ended, self.storage_fault = self.storage_fault, None
        return ended

    @property
    def ready(self) -> bool:
        return self.storage_fault is None and self.broker_connected

    def report(self, now: datetime) -> dict[str, Any]:
        """The ``/readyz`` body: status and why."""
        fault = self.storage_fault
        body: dict[str, Any] = {
            "status": "ready" if self.ready else "unready",
            "storage": "ok" if fault is None else "fault",
            "broker": "connected" if self.broker_connected else "disconnected",
        }
        if fault is not None:
            body["storage_fault"] = {
                "code": "hub_storage_fault",
                "kind": fault.kind,
                "detail": fault.detail,
                "since": fault.since.isoformat(),
                "seconds": round((now - fault.since).total_seconds(), 1),
                "attempts": fault.attempts,
                "held_by_broker": fault.held,
            }
        return body
