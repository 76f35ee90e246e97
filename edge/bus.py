"""The edge's MQTT link (paho-mqtt 2.x) behind the ``Bus`` interface, fed by the on-disk outbox.

Delivery: ``publish`` commits to the outbox and returns. A drain task hands undelivered rows to
paho in ``seq`` order, at most ``window`` un-acknowledged at a time, and marks a row delivered
only when its PUBACK arrives (``on_publish`` with the mid). Rows handed to paho before a link
drop are re-sent by paho itself after the reconnect (it keeps them in memory, same mid, DUP set);
rows never acknowledged before a process restart are re-sent from the outbox by the next process.

Threads: paho runs its network loop in its own thread; every callback is bridged to the asyncio
loop with ``call_soon_threadsafe``, so the bus state is only touched on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.interfaces import MessageHandler
from edge.outbox import Outbox
from models import topics
from models.messages import (
    MAX_PAYLOAD_BYTES,
    MAX_SYNC_BYTES,
    DeviceStatus,
    EnvelopeBase,
    Kind,
    MessageError,
    make_message,
    parse_message,
)

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600  # MQTT 5: how long the broker keeps our session offline


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    mqtt5: bool = False

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``mqtt://host:1883`` or ``mqtts://host:8883`` (``tcp://`` and ``ssl://`` accepted);
        ``?protocol=5`` selects MQTT 5 (default 3.1.1, which every broker here speaks)."""
        parsed = urlparse(url if "://" in url else f"mqtt://{url}")
        if parsed.scheme not in ("mqtt", "tcp", "mqtts", "ssl"):
            raise ValueError(f"broker url {url!r}: scheme must be mqtt:// or mqtts://")
        tls = parsed.scheme in ("mqtts", "ssl")
        if not parsed.hostname:
            raise ValueError(f"broker url {url!r} has no host")
        query = parse_qs(parsed.query)
        protocol = query.get("protocol", ["3.1.1"])[-1]
        if protocol not in ("3.1.1", "5"):
            raise ValueError(f"broker url {url!r}: protocol must be 3.1.1 or 5")
        return cls(parsed.hostname, parsed.port or (8883 if tls else 1883), tls, protocol == "5")


class MqttBus:
    """One device's MQTT connection: outbox drain, LWT, retained availability, subscriptions."""

    def __init__(
        self,
        site: str,
        device: str,
        broker_url: str,
        outbox: Outbox,
        *,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 10,
        window: int = 50,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        prune_every_s: float = 60.0,
    ) -> None:
        self.site = site
        self.device = device
        self.address = BrokerAddress.parse(broker_url)
        self.outbox = outbox
        self.keepalive = keepalive
        self.window = window
        self.prune_every_s = prune_every_s
        self._available_topic = str(topics.available(site, device))
        self._command_handlers: list[MessageHandler] = []
        self._sync_handlers: list[MessageHandler] = []
        self._connected = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._cursor = 0  # highest seq handed to paho by this process
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq
        self._acked: list[int] = []  # seqs whose PUBACK arrived, not yet marked on disk
        self._refused: list[tuple[int, str]] = []  # MQTT 5: seqs the broker refused, and why
        self._drain_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._handler_tasks: set[asyncio.Task[None]] = set()
        self._connected_event = asyncio.Event()
        self.rejected_messages = 0  # malformed or foreign messages received
        self.refused_messages = 0  # our publishes the broker refused (MQTT 5 only)

        # A persistent session either way: the broker queues our commands while the link is
        # down. MQTT 5 adds PUBACK reason codes, so a publish the broker refuses (ACL) is seen.
        if self.address.mqtt5:
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=f"anju-{site}-{device}",
                protocol=mqtt.MQTTv5,
            )
        else:
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=f"anju-{site}-{device}",
                clean_session=False,
                protocol=mqtt.MQTTv311,
            )
        if username is not None:
            client.username_pw_set(username, password)
        if self.address.tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)
        client.max_inflight_messages_set(window)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client
        self._set_will("connection lost")

    # ------------------------------------------------------------------ public API

    @property
    def connected(self) -> bool:
        return self._connected

    def on_command(self, handler: MessageHandler) -> None:
        self._command_handlers.append(handler)

    def on_sync(self, handler: MessageHandler) -> None:
        self._sync_handlers.append(handler)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.address.mqtt5:
            session = Properties(PacketTypes.CONNECT)
            session.SessionExpiryInterval = SESSION_EXPIRY_S
            self._client.connect_async(
                self.address.host,
                self.address.port,
                self.keepalive,
                clean_start=False,
                properties=session,
            )
        else:
            self._client.connect_async(self.address.host, self.address.port, self.keepalive)
        self._client.loop_start()  # retries the first connection too
        self._drain_task = asyncio.create_task(self._drain(), name=f"outbox-drain-{self.device}")

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._connected_event.wait()
        return self._connected

    async def publish(
        self, topic: str, message: EnvelopeBase, *, retain: bool = False, droppable: bool = False
    ) -> int:
        """Commit ``message`` to the outbox (durable on return) and wake the drain task."""
        seq = await asyncio.to_thread(
            self.outbox.add, topic, message.to_json(), retain=retain, droppable=droppable
        )
        self._wake.set()
        return seq

    async def pending(self) -> int:
        return await asyncio.to_thread(self.outbox.pending_count)

    async def stop(self, reason: str = "stopped") -> None:
        """Graceful stop: retained offline status, then DISCONNECT (no Last Will)."""
        self._stopping = True
        if self._drain_task is not None:
            self._drain_task.cancel()
            await asyncio.wait({self._drain_task}, timeout=5.0)
        await self._flush_acks()
        if self._connected:
            info = self._client.publish(
                self._available_topic, self._status(False, reason), qos=1, retain=True
            )
            with contextlib.suppress(RuntimeError, ValueError):
                await asyncio.to_thread(info.wait_for_publish, 2.0)
            await self._flush_acks()
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        await self._flush_acks()
        for task in list(self._handler_tasks):
            task.cancel()

    def abort(self) -> None:
        """Drop the TCP connection without DISCONNECT, as a cable cut would (the broker then
        publishes the Last Will). paho reconnects by itself. For tests and diagnostics."""
        sock = self._client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(2)

    # ------------------------------------------------------------------ status envelopes

    def _status(self, online: bool, reason: str) -> bytes:
        payload = DeviceStatus(online=online, reason=reason)
        return make_message(
            Kind.DEVICE_STATUS, site=self.site, device=self.device, payload=payload
        ).to_json()

    def _set_will(self, reason: str) -> None:
        # The will's timestamp is when it was registered; the hub should use its receive time.
        self._client.will_set(
            self._available_topic, self._status(False, reason), qos=1, retain=True
        )

    # ------------------------------------------------------------------ paho thread callbacks

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("%s: broker refused the connection: %s", self.device, reason)
            return
        for wildcard in topics.edge_subscriptions(self.site, self.device):
            client.subscribe(wildcard.value, qos=1)
        client.publish(self._available_topic, self._status(True, "connected"), qos=1, retain=True)
        self._call_on_loop(self._set_connected, True)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._set_will("connection lost")  # a fresh will for the next connection
        self._call_on_loop(self._set_connected, False)
        log.info("%s: disconnected from broker: %s", self.device, reason)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        refusal = str(reason) if reason is not None and reason.is_failure else None
        self._call_on_loop(self._acknowledged, mid, refusal)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._call_on_loop(self._dispatch, msg.topic, bytes(msg.payload))

    def _call_on_loop(self, func: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop shutting down
                loop.call_soon_threadsafe(func, *args)

    # ------------------------------------------------------------------ on the asyncio loop

    def _set_connected(self, value: bool) -> None:
        self._connected = value
        if value:
            self._connected_event.set()
        else:
            self._connected_event.clear()
        self._wake.set()

    def _acknowledged(self, mid: int, refusal: str | None = None) -> None:
        seq = self._inflight.pop(mid, None)
        if seq is None:  # a status message published directly, not from the outbox
            return
        if refusal is None:
            self._acked.append(seq)
        else:
            self.refused_messages += 1
            log.error("%s: the broker refused outbox row %d: %s", self.device, seq, refusal)
            self._refused.append((seq, refusal))
        self._wake.set()

    def _dispatch(self, topic: str, payload: bytes) -> None:
        try:
            where = topics.parse_topic(topic)
            sync = where.channel is topics.Channel.SYNC
            message = parse_message(
                payload, max_bytes=MAX_SYNC_BYTES if sync else MAX_PAYLOAD_BYTES
            )
        except (MessageError, topics.TopicError) as exc:
            self.rejected_messages += 1
            log.warning("%s: ignored message on %s: %s", self.device, topic, exc)
            return
        if message.site != self.site:
            self.rejected_messages += 1
            log.warning("%s: ignored message for site %s on %s", self.device, message.site, topic)
            return
        if where.channel is topics.Channel.CMD:
            handlers = self._command_handlers
        elif where.channel is topics.Channel.SYNC:
            handlers = self._sync_handlers
        else:
            return
        for handler in handlers:
            task = asyncio.ensure_future(handler(message))
            self._handler_tasks.add(task)
            task.add_done_callback(self._handler_done)

    def _handler_done(self, task: asyncio.Task[None]) -> None:
        self._handler_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: message handler failed", self.device, exc_info=task.exception())

    async def _flush_acks(self) -> None:
        if self._acked:
            seqs, self._acked = self._acked, []
            await asyncio.to_thread(self.outbox.mark_delivered, seqs)
        while self._refused:
            seq, refusal = self._refused.pop(0)
            await asyncio.to_thread(self.outbox.mark_refused, seq, refusal)

    async def _drain(self) -> None:
        last_prune = 0.0
        while not self._stopping:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
            # races with the event being set, and then stop() would wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._wake.wait()
            self._wake.clear()
            await self._flush_acks()
            if time.monotonic() - last_prune >= self.prune_every_s:
                last_prune = time.monotonic()
                if dropped := await asyncio.to_thread(self.outbox.prune):
                    log.warning("%s: outbox dropped %d old heartbeats", self.device, dropped)
            room = self.window - len(self._inflight)
            if not self._connected or room <= 0:
                continue
            rows = await asyncio.to_thread(self.outbox.pending, self._cursor, room)
            # No await between publish and recording the mid: the PUBACK callback runs on this
            # loop, so it always finds the mapping.
            for row in rows:
                info = self._client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
                self._inflight[info.mid] = row.seq
                self._cursor = row.seq
            if len(rows) == room:
                self._wake.set()  # more may be waiting
