"""One MQTT client (paho-mqtt 2.x) for edge, hub and tools, driven from asyncio.

paho runs its network loop in its own thread. Every hook is called on the asyncio loop
(bridged with ``call_soon_threadsafe``), except the two marked ``_thread``, which run in the
network thread for code that must not wait for the loop (the hub validates there, and
re-publishes its retained lists before any message of the new connection is handled).

- Persistent session by default (3.1.1 ``clean_session=False``; 5 ``clean_start=False`` with a
  week's session expiry), so the broker queues QoS 1 messages while the client is away.
- ``manual_ack``: a received message is PUBACKed only when ``ack(mid, qos, epoch)`` is called
  (the hub acknowledges after its database commit). Packet ids belong to one connection: an
  ack for a message received on an earlier connection (``Received.epoch``) is not sent, since
  the broker has resent that message (same or reused id) and the new copy is acked instead.
- ``ready`` means: connected, and the subscriptions granted (SUBACK) or resumed with the
  session, so nothing published after it can be missed.
- Back-off reconnect (1..30 s by default); the Last Will is re-armed on every disconnect
  (``will``), so its payload can say why.
- ``publish`` returns the mid at once; ``publish_acked`` waits for the PUBACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from transport.address import BrokerAddress, TlsSettings

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600  # MQTT 5: how long the broker keeps our session offline


class PublishError(RuntimeError):
    """A publish paho would not take (not connected with QoS 0, queue full, too large)."""


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Received:
    """One message as it arrived; ``mid``/``qos`` are what ``ack`` needs with manual acks."""

    raw_topic: bytes
    payload: bytes
    qos: int
    retain: bool
    mid: int
    epoch: int = 0  # which connection it arrived on (MqttClient.epoch at the time)

    @property
    def topic(self) -> str:
        """The topic as text; raises UnicodeDecodeError for a topic that is not UTF-8 (a
        broker should refuse those, but the hub must reject, not crash, if one arrives)."""
        return self.raw_topic.decode("utf-8")


class MqttClient:
    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        tls: TlsSettings | None = None,
        persistent: bool = True,
        manual_ack: bool = False,
        keepalive: int = 30,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        max_inflight: int | None = None,
        subscriptions: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.address = address
        self.client_id = client_id
        self.keepalive = keepalive
        self.persistent = persistent
        self.subscriptions = list(subscriptions)
        # hooks, on the asyncio loop
        self.on_ready: Callable[[bool], None] | None = None  # session_present
        self.on_disconnected: Callable[[str], None] | None = None
        self.on_message: Callable[[Received], None] | None = None
        self.on_publish: Callable[[int, str | None], None] | None = None  # mid, refusal
        # hooks, in paho's network thread
        self.on_connect_thread: Callable[[bool], None] | None = None
        self.on_message_thread: Callable[[Received], None] | None = None
        self.will: Callable[[], Will] | None = None  # armed before every (re)connect
        self.connect_refusal: str | None = None  # why the broker last refused us, if it did
        self.epoch = 0  # bumped on every successful connect (network thread)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._subscribe_mid: int | None = None
        self._waiting: dict[int, asyncio.Future[str | None]] = {}
        self._started = False

        if address.mqtt5:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=client_id,
                protocol=mqtt.MQTTv5,
                manual_ack=manual_ack,
            )
        else:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=client_id,
                clean_session=not persistent,
                protocol=mqtt.MQTTv311,
                manual_ack=manual_ack,
            )
        if address.credentials is not None:
            client.username_pw_set(address.credentials.username, address.credentials.password)
        if address.tls or tls is not None:
            tls = tls or TlsSettings()
            client.tls_set(
                ca_certs=str(tls.ca_file) if tls.ca_file else None,
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)
        if max_inflight is not None:
            client.max_inflight_messages_set(max_inflight)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client

    # ------------------------------------------------------------------ lifecycle (loop)

    async def start(self, timeout_s: float | None = None) -> None:
        """Connect in the background (paho keeps retrying); with ``timeout_s``, wait until
        ready and raise ConnectionError (with the broker's reason, if it gave one) otherwise."""
        self._loop = asyncio.get_running_loop()
        self._arm_will()
        if self.address.mqtt5:
            session = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            session.SessionExpiryInterval = SESSION_EXPIRY_S if self.persistent else 0
            self._client.connect_async(
                self.address.host,
                self.address.port,
                self.keepalive,
                clean_start=not self.persistent,
                properties=session,
            )
        else:
            self._client.connect_async(self.address.host, self.address.port, self.keepalive)
        self._client.loop_start()
        self._started = True
        if timeout_s is None:
            return
        if not await self.wait_ready(timeout_s):
            await self.stop()
            why = f": {self.connect_refusal}" if self.connect_refusal else ""
            if not why:  # paho keeps the socket/TLS error to itself: find it out
                problem = await asyncio.to_thread(self._diagnose)
                why = f": {problem}" if problem else ""
            raise ConnectionError(
                f"no connection to the broker at {self.address.host}:{self.address.port}"
                f" within {timeout_s:g} s{why}"
            )

    def _diagnose(self) -> str | None:
        """Why no connection came up: open the socket (and the TLS session, with paho's own
        context) once more and report the error, e.g. a CA that did not sign the broker's
        certificate, or a broker that wants a client certificate."""
        host, port = self.address.host, self.address.port
        context: ssl.SSLContext | None = getattr(self._client, "_ssl_context", None)
        try:
            with socket.create_connection((host, port), timeout=3) as sock:
                if context is None:
                    return None
                with context.wrap_socket(sock, server_hostname=host) as tls:
                    tls.settimeout(1)
                    with contextlib.suppress(TimeoutError):
                        tls.recv(1)  # TLS 1.3: a refused client certificate shows up here
        except ssl.SSLCertVerificationError as exc:
            return (
                f"TLS: certificate verify failed ({exc.verify_message}): is --ca-file the CA "
                "that signed the broker's certificate, and the host one it names?"
            )
        except ssl.SSLError as exc:
            return f"TLS: {exc.reason or exc} (does the broker want a client --cert/--key?)"
        except OSError as exc:
            return f"{exc.strerror or exc}"
        return None

    async def wait_ready(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
        return self._ready.is_set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    async def stop(self) -> None:
        """DISCONNECT (no Last Will) and end the network thread."""
        if not self._started:
            return
        self._started = False
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        self._ready.clear()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the MQTT client stopped"))
        self._waiting.clear()

    def abort(self) -> None:
        """Drop the TCP connection without DISCONNECT, as a cable cut would (the broker then
        publishes the Last Will); paho reconnects by itself. For tests and diagnostics."""
        sock = self._client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def reconnect(self) -> None:
        """Drop and re-establish the connection: the broker then resends every unacknowledged
        QoS 1 message of the session (the hub uses it after a storage fault). Messages
        received before it can no longer be acknowledged (see ``ack``)."""
        self.abort()

    # ------------------------------------------------------------------ publishing, acks

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Hand a message to paho (thread-safe); returns its mid. QoS 1 messages published while
        disconnected are queued by paho and sent after the reconnect."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN) or (
            info.rc == mqtt.MQTT_ERR_NO_CONN and qos == 0
        ):
            raise PublishError(f"publish on {topic} failed: {mqtt.error_string(info.rc)}")
        return info.mid

    async def publish_acked(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout_s: float
    ) -> None:
        """Publish with QoS 1 and wait for the PUBACK; raise PublishError if the broker refused
        it (MQTT 5 reason code) and TimeoutError if none came in time."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()
        mid = self.publish(topic, payload, qos=qos, retain=retain)
        # The PUBACK callback is bridged to this loop, so it runs after this line.
        self._waiting[mid] = future
        try:
            async with asyncio.timeout(timeout_s):
                refusal = await future
        finally:
            self._waiting.pop(mid, None)
        if refusal is not None:
            raise PublishError(f"the broker refused the publish on {topic}: {refusal}")

    def ack(self, mid: int, qos: int, epoch: int | None = None) -> bool:
        """Acknowledge a received message (manual acks; thread-safe in paho). With ``epoch``
        (``Received.epoch``), only if it arrived on the current connection: after a reconnect
        the broker resends it, possibly under a packet id it has since given another message,
        so acking the old copy could acknowledge a message nobody stored. Returns whether a
        PUBACK was sent (or none was needed)."""
        if qos == 0:
            return True
        if epoch is not None and epoch != self.epoch:
            return False
        self._client.ack(mid, qos)
        return True

    # ------------------------------------------------------------------ paho network thread

    def _arm_will(self) -> None:
        if self.will is not None:
            will = self.will()
            self._client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.connect_refusal = str(reason)
            log.warning("%s: the broker refused the connection: %s", self.client_id, reason)
            return
        self.connect_refusal = None
        self.epoch += 1
        session_present = bool(flags.session_present)
        log.info(
            "%s: connected to %s (session present: %s)",
            self.client_id,
            self.address,
            session_present,
        )
        if self.subscriptions:
            _rc, self._subscribe_mid = client.subscribe(self.subscriptions)
        if self.on_connect_thread is not None:
            try:
                self.on_connect_thread(session_present)
            except Exception:
                log.exception("%s: on_connect hook failed", self.client_id)
        # A new session listens only once the SUBACK is in (messages published before it
        # would be missed); a resumed one already has its subscriptions.
        if not self.subscriptions or session_present:
            self._call_on_loop(self._set_ready, session_present)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, codes: Any, _p: Any) -> None:
        if mid != self._subscribe_mid:
            return
        if any(code.is_failure for code in codes):
            log.error("%s: the broker refused the subscriptions: %s", self.client_id, codes)
            return
        self._call_on_loop(self._set_ready, False)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._arm_will()  # a fresh will for the next connection
        if reason != 0 and self._started:
            log.warning("%s: lost the broker connection (%s); reconnecting", self.client_id, reason)
        self._call_on_loop(self._set_disconnected, str(reason))

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        refusal = str(reason) if reason is not None and reason.is_failure else None
        self._call_on_loop(self._published, mid, refusal)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        received = Received(
            bytes(message._topic),  # the topic property would raise on invalid UTF-8 here
            bytes(message.payload),
            message.qos,
            bool(message.retain),
            message.mid,
            self.epoch,
        )
        if self.on_message_thread is not None:
            try:
                self.on_message_thread(received)
            except Exception:  # never out of paho's thread: the message would be lost silently
                log.exception("%s: message hook failed on %r", self.client_id, received.raw_topic)
        if self.on_message is not None:
            self._call_on_loop(self.on_message, received)

    def _call_on_loop(self, func: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                loop.call_soon_threadsafe(func, *args)

    # ------------------------------------------------------------------ on the loop

    def _set_ready(self, session_present: bool) -> None:
        self._ready.set()
        if self.on_ready is not None:
            self.on_ready(session_present)

    def _set_disconnected(self, reason: str) -> None:
        self._ready.clear()
        if self.on_disconnected is not None:
            self.on_disconnected(reason)

    def _published(self, mid: int, refusal: str | None) -> None:
        future = self._waiting.get(mid)
        if future is not None and not future.done():
            future.set_result(refusal)
        if self.on_publish is not None:
            self.on_publish(mid, refusal)
