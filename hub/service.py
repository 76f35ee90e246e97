"""The hub service: MQTT in, validated and de-duplicated events into SQLite, violations out,
vehicle lists and gate commands back to the edges.

    hub = Hub([load_site_config("config/lakeside.yaml")], broker_url="mqtt://127.0.0.1:1883",
              data_dir="data/hub")
    await hub.start()
    outcome = await hub.send_gate_command("lakeside", "edge-north", "north-vehicle", "open",
                                          reason="delivery van, resident called", operator="guard1")
    await hub.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hub.batcher import BatchWriter
from hub.car_park.rules import shortest_limit_s
from hub.health import HubHealth, StorageFaultState
from hub.ingest import Ingest
from hub.keys import load_or_create_hub_key
from hub.metrics import HubMetrics, LiveValues
from hub.recorder import Recorded, Recorder
from hub.storage_fault import Backoff, StorageFault
from hub.store import Store, from_iso, iso
from hub.validate import Checked, Validator
from hub.vehicle_gate.sync import VEHICLES, list_digest, next_version, vehicle_list
from models import topics
from models.messages import (
    AckResult,
    GateAction,
    GateCommand,
    Kind,
    ListedPass,
    make_message,
    utcnow,
)
from models.signing import HUB_DEVICE, sign_message
from models.site import SiteConfig
from transport import BrokerAddress, Credentials, MqttClient, PublishError, TlsSettings

log = logging.getLogger(__name__)

CARPARK = "carpark"  # sync topic of the relayed car-park snapshot


class CommandStatus(StrEnum):
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"  # could not be published
    TIMEOUT = "timeout"  # no ack before the timeout


class CommandError(ValueError):
    """A gate command that cannot be sent as asked (unknown site/device/gate, bad reason)."""


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    command_id: str
    status: CommandStatus
    result: AckResult | None = None  # what the edge answered, if it did
    detail: str = ""
    sent_at: datetime | None = None
    acked_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status is CommandStatus.ACKNOWLEDGED and self.result is AckResult.DONE

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CommandOutcome:
        return cls(
            command_id=row["id"],
            status=CommandStatus(row["status"]),
            result=AckResult(row["ack_result"]) if row["ack_result"] else None,
            detail=row["ack_detail"] or "",
            sent_at=from_iso(row["sent_at"]),
            acked_at=from_iso(row["acked_at"]),
        )


class Hub:
    def __init__(
        self,
        sites: Sequence[SiteConfig],
        *,
        broker_url: str,
        data_dir: Path | str,
        client_id: str | None = None,
        credentials: Credentials | None = None,
        tls: TlsSettings | None = None,
        watchdog_interval_s: float | None = None,
        batch_rows: int = 100,
        batch_delay_s: float = 0.05,
        storage_retry_max_s: float = 10.0,
        keys_dir: Path | str | None = None,
        db: str | None = None,
    ) -> None:
        if not sites:
            raise ValueError("the hub needs at least one site")
        self.sites = {s.site.id: s for s in sites}
        if len(self.sites) != len(sites):
            raise ValueError("two site configs share one site id")
        self.broker = BrokerAddress.parse(broker_url).with_credentials(credentials)
        self.data_dir = Path(data_dir)
        self.db = db  # database URL or file (hub/db/engine.py); None: DATA/hub.db
        # The client id is the broker username (the generated broker config enforces that
        # with use_username_as_clientid): each hub worker has its own user and session.
        login = self.broker.credentials
        self.client_id = client_id or (login.username if login else "anju-hub")
        self._tls = tls
        # Everything the hub sends the edges is signed with this key; the edges pin its
        # public half (``keys_dir/hub.pub``). Created on first run (docs/security.md).
        self.keys_dir = Path(keys_dir) if keys_dir is not None else self.data_dir / "keys"
        self.signing_key = load_or_create_hub_key(self.keys_dir)
        shortest = min(s.rules.device_offline_after_s for s in sites)
        parking_limit = shortest_limit_s(self.sites)  # fire lane timed to ~1/5 of its limit
        shortest = min(shortest, parking_limit) if parking_limit else shortest
        self.watchdog_interval_s = watchdog_interval_s or min(max(shortest / 5, 0.1), 10.0)
        self._batch_rows, self._batch_delay_s = batch_rows, batch_delay_s
        self.store: Store | None = None
        self.recorder: Recorder | None = None
        self._writer: BatchWriter[Checked] | None = None
        self._ingest: Ingest | None = None
        self.mqtt: MqttClient | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._retained: dict[str, bytes] = {}  # sync lists by topic, (re)published on connect
        self.watching_since: datetime | None = None
        self.started = False
        self.health = HubHealth()
        self.metrics = HubMetrics()
        self._backoff = Backoff(max_s=storage_retry_max_s)
        self._acked = 0  # messages acknowledged (or settled without an ack: QoS 0)
        self._abandoned = 0  # left unacknowledged for the broker to resend
        self._redeliver: asyncio.TimerHandle | None = None
        self.metrics.watch(
            LiveValues(
                received=lambda: self._ingest.received if self._ingest else 0,
                backlog=self.backlog,
                storage_fault=lambda: self.health.storage_fault is not None,
                broker_connected=lambda: self.health.broker_connected,
            )
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, connect_timeout_s: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        self.store = await Store.open(self.data_dir, self.db)
        try:
            self.recorder = Recorder(
                self.store,
                list(self.sites.values()),
                on_command_ack=self._command_acked,
                on_carpark_snapshot=self._relay_carpark,
            )
            await self.recorder.load()
            async with self.store.transaction():
                # commands left "sent" by a hub that stopped while waiting for their ack
                await self.store.expire_commands(utcnow(), actor="hub")
            for site_id in self.sites:
                await self._prepare_vehicle_list(site_id)
            self._writer = BatchWriter(
                self._handle_batch, max_rows=self._batch_rows, max_delay_s=self._batch_delay_s
            )
            self._writer.start()
            self._ingest = Ingest(Validator(list(self.sites.values())), loop, self._deliver)
            self.mqtt = MqttClient(
                self.broker,
                client_id=self.client_id,
                tls=self._tls,
                manual_ack=True,
                subscriptions=[(w.value, 1) for w in topics.hub_subscriptions()],
            )
            self.mqtt.on_message_thread = self._ingest.on_message
            self.mqtt.on_connect_thread = self._publish_retained
            self.mqtt.on_ready = self._broker_ready
            self.mqtt.on_disconnected = self._broker_lost
            await self.mqtt.start(connect_timeout_s)
        except BaseException:
            if self._writer:
                await self._writer.stop()
            await self.store.close()
            raise
        self.watching_since = utcnow()
        self._watchdog = asyncio.create_task(self._watch(), name="hub-watchdog")
        self.started = True
        log.info("hub started: sites %s, data in %s", sorted(self.sites), self.store.path)

    async def stop(self) -> None:
        """Store everything received so far, disconnect, close the database."""
        if not self.started:
            return
        self.started = False
        assert self._writer and self.mqtt and self.store
        if self._redeliver is not None:
            self._redeliver.cancel()
        if self._watchdog:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        await self._writer.flush()  # commit and acknowledge while still connected
        await self.mqtt.stop()
        await self._writer.stop()  # stragglers: stored, redelivered later, de-duplicated
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RuntimeError("the hub stopped"))
        await self.store.close()
        log.info("hub stopped")

    async def flush(self) -> None:
        """Wait until every message received so far is stored (for tests and summaries)."""
        if self._writer:
            await self._writer.flush()

    async def counts(self) -> dict[str, int]:
        assert self.store, "start the hub first"
        return await self.store.counts()

    @property
    def connected(self) -> bool:
        return bool(self.mqtt and self.mqtt.ready)

    def backlog(self) -> int:
        """Messages received and not yet acknowledged or given back to the broker."""
        received = self._ingest.received if self._ingest else 0
        return max(received - self._acked - self._abandoned, 0)

    # ------------------------------------------------------------------ ingestion

    def _broker_ready(self, _session_present: bool) -> None:
        self.health.broker_connected = True

    def _broker_lost(self, _reason: str) -> None:
        self.health.broker_connected = False

    def _deliver(self, item: Checked) -> None:
        """An item from the network thread's hand-over. While storage fails, nothing more
        is queued in memory: it stays unacknowledged and the broker resends it after the
        recovery (``_request_redelivery``), so a long fault cannot exhaust the hub's memory."""
        assert self._writer is not None
        if self.health.storage_fault is not None and item.qos > 0:  # QoS 0 is never resent
            self.health.storage_fault.held += 1
            self._abandoned += 1
            return
        self._writer.put_nowait(item)

    async def _handle_batch(self, batch: list[Checked]) -> None:
        assert self.mqtt
        started = time.perf_counter()
        recorded = await self._store(batch)
        if recorded is None:  # not stored: give it back to the broker
            self._abandoned += len(batch)
            return
        for item in batch:  # acknowledge only what is committed, in arrival order
            if self.mqtt.ack(item.mid, item.qos, item.epoch):
                self._acked += 1
            else:  # it came on an earlier connection: the broker has resent it since
                self._abandoned += 1
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_stored(recorded.new, recorded.duplicates, recorded.rejects)

    async def _store(self, batch: list[Checked]) -> Recorded | None:
        """Store a batch, retrying with back-off while storage fails (``StorageFault``):
        a storage error is never a reject, and nothing is acknowledged until it is stored.
        None if the batch failed for another reason (a bug): the broker resends it."""
        assert self.recorder
        while True:
            try:
                recorded = await self.recorder.record(batch)
            except StorageFault as fault:
                self.metrics.storage_errors.labels(fault.kind).inc()
                if self.health.storage_failed(fault, utcnow()):
                    log.error(
                        "hub_storage_fault: %s; acknowledging nothing until storage works"
                        " (the broker keeps the messages)",
                        fault,
                    )
                if not self.started:
                    return None  # stopping: the broker keeps it
                await asyncio.sleep(self._backoff.next())
                continue
            except Exception:
                log.exception(
                    "a batch of %d could not be stored; the broker resends it", len(batch)
                )
                self._request_redelivery(delay_s=self._backoff.next())
                return None
            self._backoff.reset()
            if (ended := self.health.storage_recovered()) is not None:
                await self._storage_recovered(ended)
            return recorded

    async def _storage_recovered(self, fault: StorageFaultState) -> None:
        """Storage works again: say so in the audit log (staff see how long and why), and
        get the broker to resend what was left unacknowledged meanwhile."""
        assert self.store
        now = utcnow()
        seconds = round((now - fault.since).total_seconds(), 1)
        log.warning(
            "hub_storage_fault over after %.1f s (%s, %d attempts); %d messages to be resent",
            seconds, fault.kind, fault.attempts, fault.held,
        )  # fmt: skip
        try:
            async with self.store.transaction():
                await self.store.audit(
                    "hub",
                    "hub.storage_fault",
                    "hub/storage",
                    {"since": iso(fault.since), "kind": fault.kind, "detail": fault.detail},
                    {"recovered_at": iso(now), "seconds": seconds, "attempts": fault.attempts,
                     "held_by_broker": fault.held},
                    now,
                )  # fmt: skip
        except Exception:
            log.exception("could not record the end of the storage fault in the audit log")
        self._request_redelivery(delay_s=0.2)

    def _request_redelivery(self, delay_s: float) -> None:
        """Reconnect (soon), so the broker resends every unacknowledged message of the
        session: QoS 1 messages are resent on a reconnect, never within one connection.
        The delay lets the acks just sent leave first."""
        if self._redeliver is not None or self.mqtt is None:
            return

        def reconnect() -> None:
            self._redeliver = None
            if self.mqtt is not None and self.started:
                self.metrics.redeliveries.inc()
                log.info("reconnecting so the broker resends what is unacknowledged")
                self.mqtt.reconnect()

        self._redeliver = asyncio.get_running_loop().call_later(delay_s, reconnect)

    async def _watch(self) -> None:
        assert self.recorder and self.watching_since
        while True:
            await asyncio.sleep(self.watchdog_interval_s)
            try:
                opened = await self.recorder.check_silence(watching_since=self.watching_since)
                if opened:
                    log.warning("watchdog: %d device(s) offline beyond their limit", opened)
                if parked := await self.recorder.check_parking():
                    log.warning("watchdog: %d parking violation(s) opened", parked)
            except Exception:
                log.exception("watchdog check failed")

    def _relay_carpark(self, snapshot: Any) -> None:
        """The car park's fill level, relayed to every edge (retained ``sync/carpark``):
        the vehicle gates refuse visitor cars when no bay is free."""
        message = make_message(
            Kind.CARPARK_SNAPSHOT,
            site=snapshot.site,
            device=HUB_DEVICE,
            payload=snapshot.payload,  # issued now: edges order relays by the hub's clock
        )
        self.publish_retained(
            str(topics.sync(snapshot.site, CARPARK)), self.sign(message).to_json()
        )

    # ------------------------------------------------------------------ sync lists

    async def _prepare_vehicle_list(
        self, site_id: str, extra_passes: Sequence[ListedPass] = ()
    ) -> int:
        """Version a site's vehicle list (bumped only when the content changed) and keep its
        message for publishing on every (re)connect; returns the version."""
        assert self.store
        lists = vehicle_list(self.sites[site_id], version=1)
        if extra_passes:
            passes = [*lists.visitor_passes, *extra_passes]
            lists = lists.model_copy(update={"visitor_passes": passes})
        digest = list_digest(lists)
        async with self.store.transaction():
            stored = await self.store.sync_list_in_tx(site_id, VEHICLES)
            version, changed = next_version(stored, digest)
            if changed:
                await self.store.set_sync_list(site_id, VEHICLES, version, digest, utcnow())
        message = make_message(
            Kind.VEHICLE_LIST,
            site=site_id,
            device=HUB_DEVICE,
            payload=lists.model_copy(update={"version": version}),
        )
        self._retained[str(topics.sync(site_id, VEHICLES))] = self.sign(message).to_json()
        return version

    async def publish_vehicle_list(
        self, site: str, *, extra_passes: Sequence[ListedPass] = ()
    ) -> int:
        """Republish a site's vehicle list (retained, QoS 1): the site config's lists plus
        ``extra_passes`` (e.g. visitor passes issued in the console). The version is bumped
        only if the content changed. Returns the version now published."""
        if site not in self.sites:
            raise ValueError(f"unknown site {site!r}")
        version = await self._prepare_vehicle_list(site, extra_passes)
        topic = str(topics.sync(site, VEHICLES))
        self.publish_retained(topic, self._retained[topic])
        return version

    def sign(self, message: Any) -> Any:
        """The envelope signed with the hub's key: the only form edges act on."""
        return sign_message(message, self.signing_key)

    def publish_retained(self, topic: str, payload: bytes) -> None:
        """Publish a hub -> edges list retained (QoS 1) and keep it, so it goes out again on
        every reconnect (while disconnected, only then)."""
        self._retained[topic] = payload
        if self.mqtt is not None and self.mqtt.connected:
            self.mqtt.publish(topic, payload, retain=True)

    def _publish_retained(self, _session_present: bool) -> None:
        # network thread, on every (re)connect, before any message of the new connection
        assert self.mqtt is not None
        for topic, payload in list(self._retained.items()):
            self.mqtt.publish(topic, payload, retain=True)

    # ------------------------------------------------------------------ gate commands

    async def send_gate_command(
        self,
        site: str,
        device: str,
        gate: str,
        action: GateAction | str,
        reason: str,
        operator: str,
        timeout_s: float = 10.0,
    ) -> CommandOutcome:
        """Publish a GateCommand to ``anju/{site}/{device}/cmd/gate`` and wait for its ack.

        Every step is recorded in ``commands`` and the audit log. Raises CommandError for
        a command that cannot be sent as asked; otherwise returns the outcome:
        acknowledged (with the edge's result), failed (not published) or timeout.
        """
        assert self.store and self.mqtt, "start the hub first"
        message = self._gate_command(site, device, gate, action, reason, operator, timeout_s)
        command: GateCommand = message.payload
        sent_at = utcnow()
        row = {
            "id": message.id,
            "site": site,
            "device": device,
            "gate": gate,
            "action": command.action.value,
            "reason": command.reason,
            "operator": command.operator,
            "sent_at": iso(sent_at),
            "expires_at": iso(command.expires_at),
            "status": CommandStatus.SENT.value,
        }
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message.id] = future
        try:
            if not self.mqtt.connected:
                return await self._command_failed(row, sent_at, "not connected to the broker")
            async with self.store.transaction():
                await self.store.insert_command(row, at=sent_at)
            topic = str(topics.command(site, device, "gate"))
            try:
                self.mqtt.publish(topic, self.sign(message).to_json())
            except PublishError as exc:
                return await self._finish(message.id, CommandStatus.FAILED, str(exc))
            published = time.perf_counter()
            try:
                acked = await asyncio.wait_for(asyncio.shield(future), timeout_s)
                self.metrics.command_rtt.observe(time.perf_counter() - published)
                outcome = CommandOutcome.from_row(acked)
            except TimeoutError:
                outcome = await self._finish(
                    message.id, CommandStatus.TIMEOUT, f"no ack within {timeout_s:g} s"
                )
            self.metrics.commands.labels(outcome.status.value).inc()
            return outcome
        finally:
            self._pending.pop(message.id, None)

    def _gate_command(
        self,
        site: str,
        device: str,
        gate: str,
        action: GateAction | str,
        reason: str,
        operator: str,
        timeout_s: float,
    ) -> Any:
        config = self.sites.get(site)
        if config is None:
            raise CommandError(f"unknown site {site!r} (have {sorted(self.sites)})")
        if device not in config.edge_ids():
            raise CommandError(f"no device {device!r} in site {site!r}")
        if gate not in config.edge(device).gates:
            raise CommandError(f"gate {gate!r} is not controlled by {device!r}")
        if timeout_s <= 0:
            raise CommandError("timeout_s must be positive")
        try:
            # the envelope names the addressee, like the topic it travels on
            return make_message(
                Kind.GATE_COMMAND,
                site=site,
                device=device,
                payload={
                    "gate": gate,
                    "action": GateAction(action),
                    "reason": reason,
                    "operator": operator,
                    "expires_at": utcnow() + timedelta(seconds=timeout_s),
                },
            )
        except (ValidationError, ValueError) as exc:
            raise CommandError(str(exc)) from None

    async def _command_failed(
        self, row: dict[str, Any], at: datetime, detail: str
    ) -> CommandOutcome:
        assert self.store
        row = {**row, "status": CommandStatus.FAILED.value, "ack_detail": detail}
        async with self.store.transaction():
            await self.store.insert_command(row, at=at)
        return CommandOutcome(row["id"], CommandStatus.FAILED, None, detail, at)

    async def _finish(self, command_id: str, status: CommandStatus, detail: str) -> CommandOutcome:
        """Close a command that got no ack, unless an ack was committed meanwhile."""
        assert self.store
        async with self.store.transaction():
            row = await self.store.finish_command(
                command_id,
                status=status.value,
                actor="hub",
                at=utcnow(),
                only_if_sent=True,
                ack_detail=detail,
            )
        if row is None:
            row = await self.store.command(command_id)
            assert row is not None
        return CommandOutcome.from_row(row)

    def _command_acked(self, command_id: str, row: dict[str, Any]) -> None:
        future = self._pending.get(command_id)
        if future is not None and not future.done():
            future.set_result(row)
