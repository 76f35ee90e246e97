"""What the hub does with each MQTT message as it arrives, in the transport's network thread.

- Every message is validated there (``Validator``; pure, never raises) and handed over to the
  asyncio side in bursts with ``loop.call_soon_threadsafe``: one wake-up per burst, not per
  message (waking the loop cost as much CPU as validating the message).
- Nothing is acknowledged here: the hub PUBACKs a message only after its database commit
  (``MqttClient(manual_ack=True)``), so a hub crash between arrival and commit loses nothing;
  the broker redelivers and the envelope id de-duplicates.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from hub.validate import Checked, Rejected, Validator, payload_head
from models.messages import utcnow
from transport import Received

log = logging.getLogger(__name__)


class RateLimitedWarning:
    """Log at most one warning per interval, saying how many were held back."""

    def __init__(self, logger: logging.Logger, interval_s: float = 5.0) -> None:
        self._log = logger
        self._interval = interval_s
        self._last = float("-inf")
        self._held = 0
        self._lock = threading.Lock()

    def warn(self, msg: str, *args: object) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self._interval:
                self._held += 1
                return False
            held, self._held, self._last = self._held, 0, now
        suffix = f" ({held} similar warnings suppressed)" if held else ""
        self._log.warning(msg + suffix, *args)
        return True


class Ingest:
    """``on_message`` is the transport's network-thread hook; ``deliver`` is called on the
    asyncio loop with each checked item, in arrival order."""

    def __init__(
        self,
        validator: Validator,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[Checked], None],
    ) -> None:
        self._validator = validator
        self._loop = loop
        self._deliver = deliver
        self._reject_warning = RateLimitedWarning(log)
        self._handover: list[Checked] = []
        self._handover_lock = threading.Lock()
        self.received = 0

    def on_message(self, message: Received) -> None:
        # Never raise out of here: the message would be neither stored nor acknowledged.
        try:
            self.received += 1
            topic = message.topic
            item = self._validator.check(
                topic,
                message.payload,
                utcnow(),
                retained=message.retain,
                mid=message.mid,
                qos=message.qos,
                epoch=message.epoch,
            )
        except Exception as exc:
            item = Rejected(
                topic="<undecodable topic>",
                reason=f"internal error: {type(exc).__name__}: {exc}",
                received_at=utcnow(),
                payload_size=len(message.payload),
                payload_head=payload_head(message.payload),
                mid=message.mid,
                qos=message.qos,
                epoch=message.epoch,
            )
        if isinstance(item, Rejected):
            self._reject_warning.warn("rejected a message on %s: %s", item.topic, item.reason)
        self._hand_over(item)

    def _hand_over(self, item: Checked) -> None:
        with self._handover_lock:
            self._handover.append(item)
            first = len(self._handover) == 1
        if first:
            try:
                self._loop.call_soon_threadsafe(self._deliver_handed_over)
            except RuntimeError:
                with self._handover_lock:
                    dropped, self._handover = len(self._handover), []
                log.warning("event loop closed; %d message(s) left unacknowledged", dropped)

    def _deliver_handed_over(self) -> None:
        with self._handover_lock:
            items, self._handover = self._handover, []
        for item in items:  # in arrival order
            self._deliver(item)
