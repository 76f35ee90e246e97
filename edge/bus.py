"""The edge's MQTT link behind the ``Bus`` interface, fed by the on-disk outbox, over the shared
transport (``transport.MqttClient``).

Delivery: ``publish`` commits to the outbox and returns. A drain task hands undelivered rows to
the client in ``seq`` order, at most ``window`` un-acknowledged at a time, and marks a row
delivered only when its PUBACK arrives. Rows handed over before a link drop are re-sent by paho
itself after the reconnect (it keeps them in memory, same mid, DUP set); rows never
acknowledged before a process restart are re-sent from the outbox by the next process.

Every transport hook arrives on the asyncio loop, so the bus state is only touched there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from edge.interfaces import MessageHandler
from edge.outbox import Outbox
from models import topics
from models.messages import (
    MAX_PAYLOAD_BYTES,
    MAX_SYNC_BYTES,
    AnyMessage,
    DeviceStatus,
    EnvelopeBase,
    Kind,
    MessageError,
    make_message,
    parse_message,
)
from transport import (
    BrokerAddress,
    Credentials,
    MqttClient,
    PublishError,
    Received,
    TlsSettings,
    Will,
)

log = logging.getLogger(__name__)


class MqttBus:
    """One device's MQTT connection: outbox drain, LWT, retained availability, subscriptions."""

    def __init__(
        self,
        site: str,
        device: str,
        broker_url: str,
        outbox: Outbox,
        *,
        credentials: Credentials | None = None,
        tls: TlsSettings | None = None,
        keepalive: int = 10,
        window: int = 50,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        prune_every_s: float = 60.0,
    ) -> None:
        self.site = site
        self.device = device
        self.address = BrokerAddress.parse(broker_url).with_credentials(credentials)
        self.outbox = outbox
        self.window = window
        self.prune_every_s = prune_every_s
        self._available_topic = str(topics.available(site, device))
        self._command_handlers: list[MessageHandler] = []
        self._sync_handlers: list[MessageHandler] = []
        self._wake = asyncio.Event()
        self._cursor = 0  # highest seq handed to the client by this process
        self._inflight: dict[int, int] = {}  # mid -> outbox seq
        self._acked: list[int] = []  # seqs whose PUBACK arrived, not yet marked on disk
        self._refused: list[tuple[int, str]] = []  # MQTT 5: seqs the broker refused, and why
        self._drain_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._handler_tasks: set[asyncio.Task[None]] = set()
        self.rejected_messages = 0  # malformed or foreign messages received
        # Hub -> edge messages must pass this before any handler sees them (the agent's
        # signature check, models/signing.py): it returns None, or why the message is
        # refused, and then ``on_refused`` hears of it. None: no check (tools, tests).
        self.guard: Callable[[AnyMessage], str | None] | None = None
        self.on_refused: Callable[[AnyMessage, str, str], None] | None = None
        self.refused_messages = 0  # our publishes the broker refused (MQTT 5 only)

        # A persistent session: the broker queues our commands while the link is down.
        # MQTT 5 adds PUBACK reason codes, so a publish the broker refuses (ACL) is seen.
        self._client = MqttClient(
            self.address,
            client_id=f"anju-{site}-{device}",
            tls=tls,
            keepalive=keepalive,
            reconnect_min_s=reconnect_min_s,
            reconnect_max_s=reconnect_max_s,
            max_inflight=window,
            subscriptions=[(w.value, 1) for w in topics.edge_subscriptions(site, device)],
        )
        # The will's timestamp is when it was armed; the hub uses its receive time.
        self._client.will = lambda: Will(
            self._available_topic, self._status(False, "connection lost")
        )
        self._client.on_connect_thread = self._on_connect
        self._client.on_ready = lambda _session: self._wake.set()
        self._client.on_disconnected = self._on_disconnected
        self._client.on_publish = self._acknowledged
        self._client.on_message = self._dispatch

    # ------------------------------------------------------------------ public API

    @property
    def connected(self) -> bool:
        return self._client.ready

    def on_command(self, handler: MessageHandler) -> None:
        self._command_handlers.append(handler)

    def on_sync(self, handler: MessageHandler) -> None:
        self._sync_handlers.append(handler)

    async def start(self) -> None:
        await self._client.start()  # connects in the background, retrying
        self._drain_task = asyncio.create_task(self._drain(), name=f"outbox-drain-{self.device}")

    async def wait_connected(self, timeout: float) -> bool:
        return await self._client.wait_ready(timeout)

    async def publish(
        self, topic: str, message: EnvelopeBase, *, retain: bool = False, droppable: bool = False
    ) -> int:
        """Commit ``message`` to the outbox (durable on return) and wake the drain task."""
        seq = await asyncio.to_thread(
            self.outbox.add, topic, message.to_json(), retain=retain, droppable=droppable
        )
        self._wake.set()
        return seq

    async def publish_many(self, messages: Sequence[tuple[str, EnvelopeBase, bool]]) -> list[int]:
        """Commit several (topic, message, droppable) in one outbox transaction (durable on
        return) and wake the drain task: for what one moment produces at once."""
        rows = [(topic, message.to_json(), droppable) for topic, message, droppable in messages]
        seqs = await asyncio.to_thread(self.outbox.add_many, rows)
        self._wake.set()
        return seqs

    async def pending(self) -> int:
        return await asyncio.to_thread(self.outbox.pending_count)

    async def stop(self, reason: str = "stopped") -> None:
        """Graceful stop: retained offline status, then DISCONNECT (no Last Will)."""
        self._stopping = True
        if self._drain_task is not None:
            self._drain_task.cancel()
            await asyncio.wait({self._drain_task}, timeout=5.0)
        await self._flush_acks()
        if self._client.connected:
            with contextlib.suppress(Exception):
                await self._client.publish_acked(
                    self._available_topic, self._status(False, reason), retain=True, timeout_s=2.0
                )
            await self._flush_acks()
        await self._client.stop()
        await self._flush_acks()
        for task in list(self._handler_tasks):
            task.cancel()

    def abort(self) -> None:
        """Drop the TCP connection without DISCONNECT, as a cable cut would (the broker then
        publishes the Last Will). The client reconnects by itself. For tests and diagnostics."""
        self._client.abort()

    # ------------------------------------------------------------------ status envelopes

    def _status(self, online: bool, reason: str) -> bytes:
        payload = DeviceStatus(online=online, reason=reason)
        return make_message(
            Kind.DEVICE_STATUS, site=self.site, device=self.device, payload=payload
        ).to_json()

    def _on_connect(self, _session_present: bool) -> None:
        # network thread: "available" goes out directly (not through the outbox), before
        # anything the outbox sends on this connection
        self._client.publish(self._available_topic, self._status(True, "connected"), retain=True)

    # ------------------------------------------------------------------ on the asyncio loop

    def _on_disconnected(self, reason: str) -> None:
        log.info("%s: disconnected from broker: %s", self.device, reason)
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

    def _dispatch(self, received: Received) -> None:
        payload = received.payload
        topic = received.raw_topic.decode("utf-8", "backslashreplace")
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
            if self.guard is not None and self.on_refused is not None:
                self.on_refused(message, topic, f"for site {message.site!r}, not {self.site!r}")
            return
        if where.channel is topics.Channel.CMD:
            handlers = self._command_handlers
        elif where.channel is topics.Channel.SYNC:
            handlers = self._sync_handlers
        else:
            return
        if self.guard is not None and (refusal := self.guard(message)) is not None:
            self.rejected_messages += 1
            log.warning("%s: refused %s on %s: %s", self.device, message.kind, topic, refusal)
            if self.on_refused is not None:
                self.on_refused(message, topic, refusal)
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
            if not self._client.ready or room <= 0:
                continue
            rows = await asyncio.to_thread(self.outbox.pending, self._cursor, room)
            # No await between publish and recording the mid: the PUBACK hook runs on this
            # loop, so it always finds the mapping.
            for row in rows:
                try:
                    mid = self._client.publish(
                        row.topic, row.payload, qos=row.qos, retain=row.retain
                    )
                except PublishError as exc:  # paho's queue is full: try again on the next wake
                    log.warning("%s: outbox row %d not handed over: %s", self.device, row.seq, exc)
                    break
                self._inflight[mid] = row.seq
                self._cursor = row.seq
            if len(rows) == room:
                self._wake.set()  # more may be waiting
