"""MQTT side of the hub: a paho-mqtt 2.x client whose network thread feeds the asyncio side.

- Persistent session (clean_session=False, fixed client id) and QoS 1 subscriptions, so
  the broker keeps what arrives while the hub is down and delivers it on reconnect.
- Manual acknowledgement: a message is PUBACKed only after it is committed to the
  database (``ack``), so a hub crash between arrival and commit loses nothing; the
  broker redelivers and the envelope id de-duplicates.
- Every message is validated in the network thread (``Validator``) and handed over in
  bursts with ``loop.call_soon_threadsafe``; the callback never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from hub.validate import Checked, Rejected, Validator, payload_head
from models.messages import utcnow
from models.topics import hub_subscriptions

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``mqtt://host:port`` or ``mqtts://host:port`` (TLS with the system CAs)."""
        parts = urlparse(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"broker url {url!r} must look like mqtt://host:port")
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, parts.port or (8883 if tls else 1883), tls)


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


class MqttIngest:
    """Owns the paho client. ``deliver`` is called in the event loop with each checked item."""

    def __init__(
        self,
        *,
        broker_url: str,
        client_id: str,
        validator: Validator,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[Checked], None],
        username: str | None = None,
        password: str | None = None,
        on_connected: Callable[[mqtt.Client], None] | None = None,
    ) -> None:
        self.address = BrokerAddress.parse(broker_url)
        self._validator = validator
        self._loop = loop
        self._deliver = deliver
        self._on_connected = on_connected
        self._connected = asyncio.Event()
        self._reject_warning = RateLimitedWarning(log)
        self._handover: list[Checked] = []
        self._handover_lock = threading.Lock()
        self.received = 0
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            manual_ack=True,
        )
        if username is not None:
            client.username_pw_set(username, password)
        if self.address.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._subscribe_mid: int | None = None
        self.client = client

    # ----------------------------------------------------------------- lifecycle (loop thread)

    async def start(self, timeout_s: float = 10.0) -> None:
        """Connect (the network thread keeps reconnecting after this); wait for the CONNACK."""
        self.client.connect_async(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except TimeoutError:
            self.client.loop_stop()
            raise ConnectionError(
                f"no connection to the broker at {self.address.host}:{self.address.port}"
                f" within {timeout_s:g} s"
            ) from None

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()

    @property
    def connected(self) -> bool:
        return self.client.is_connected()

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a delivered message once it is safely stored (thread-safe in paho)."""
        if qos > 0:
            self.client.ack(mid, qos)

    # ----------------------------------------------------------------- paho callbacks (net thread)

    def _on_connect(self, client, _userdata, flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        log.info("connected to the broker (session present: %s)", flags.session_present)
        # A new session listens only once the SUBACK is in (before it, events would be lost);
        # a resumed session already has the subscriptions, and its backlog may arrive
        # ahead of the SUBACK, so it counts as listening at once.
        _result, self._subscribe_mid = client.subscribe(
            [(str(w.value), 1) for w in hub_subscriptions()]
        )
        if flags.session_present:
            self._loop.call_soon_threadsafe(self._connected.set)
        if self._on_connected:
            try:
                self._on_connected(client)
            except Exception:
                log.exception("on_connected hook failed")

    def _on_subscribe(self, _client, _userdata, mid, reason_codes, _properties) -> None:
        if mid != self._subscribe_mid:
            return
        if any(code.is_failure for code in reason_codes):
            log.error("the broker refused the subscriptions: %s", reason_codes)
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._connected.set)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code != 0:
            log.warning("lost the broker connection (%s); reconnecting", reason_code)
        with contextlib.suppress(RuntimeError):  # the loop is already closed during shutdown
            self._loop.call_soon_threadsafe(self._connected.clear)

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        # Never raise out of here: paho would log and carry on, but the message would be
        # neither stored nor acknowledged.
        try:
            self.received += 1
            topic = message.topic
            item = self._validator.check(
                topic,
                message.payload,
                utcnow(),
                retained=bool(message.retain),
                mid=message.mid,
                qos=message.qos,
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
            )
        if isinstance(item, Rejected):
            self._reject_warning.warn("rejected a message on %s: %s", item.topic, item.reason)
        self._hand_over(item)

    def _hand_over(self, item: Checked) -> None:
        # One wake-up of the event loop per burst, not per message: waking it (a write to
        # its self-pipe) cost as much CPU as validating the message.
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
