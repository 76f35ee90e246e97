"""Turns batches of checked messages into stored events, rejects, device states and violations.

One batch is one transaction: new events (de-duplicated by envelope id), rejects and
counters, device liveness, the violations the rules open or resolve, and command acks.
Rules run only for newly stored events, so a redelivered message changes nothing.

A storage error (disk full, I/O error, database locked) is raised as ``StorageFault`` and
nothing of the batch is acknowledged: a good message is never turned into a reject because
the disk failed. Any other failure is retried item by item; a valid event whose rules fail
is stored without them; only an invalid message becomes a reject (hub/rejects.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.car_park.rules import ParkingState, due_violations, on_gate_decision, on_slot_state
from hub.rejects import RejectAccounting, RejectBudget, reason_code
from hub.rules import (
    Effect,
    OpenViolation,
    RuleContext,
    ViolationType,
    evaluate,
    is_offline_status,
    seen_at,
    silent_devices,
)
from hub.storage_fault import StorageFault, is_storage_error
from hub.store import DeviceUpdate, HubStore
from hub.validate import Accepted, Checked, Ignored, Rejected
from models.messages import (
    AnyMessage,
    CarParkSnapshotMessage,
    CommandAckMessage,
    GateDecisionMessage,
    Heartbeat,
    Severity,
    SlotStateMessage,
    parse_message,
    utcnow,
)
from models.site import SiteConfig

log = logging.getLogger(__name__)

AckCallback = Callable[[str, dict[str, Any]], None]
SnapshotCallback = Callable[[CarParkSnapshotMessage], None]


@dataclass
class Recorded:
    """What one ``record`` call committed (for metrics and summaries)."""

    new: list[Accepted] = field(default_factory=list)  # events stored for the first time
    duplicates: int = 0
    ignored: int = 0
    rejects: Counter[str] = field(default_factory=Counter)  # by reason code
    rules_skipped: int = 0  # events stored without their rules (a rule failed on them)

    def add(self, other: Recorded) -> None:
        self.new.extend(other.new)
        self.duplicates += other.duplicates
        self.ignored += other.ignored
        self.rejects.update(other.rejects)
        self.rules_skipped += other.rules_skipped


class Recorder:
    def __init__(
        self,
        store: HubStore,
        sites: Sequence[SiteConfig],
        *,
        on_command_ack: AckCallback | None = None,
        reject_budget: RejectBudget | None = None,
        on_carpark_snapshot: SnapshotCallback | None = None,
    ) -> None:
        self.store = store
        self.sites = {s.site.id: s for s in sites}
        self.on_command_ack = on_command_ack
        self.reject_budget = reject_budget or RejectBudget()
        self.rejects = RejectAccounting(
            frozenset((s.site.id, e.id) for s in sites for e in s.edges)
        )
        self._open_keys: set[str] = set()
        self.on_carpark_snapshot = on_carpark_snapshot
        self.parking = ParkingState()
        # newest car-park snapshot per site, by the hub's receive time (a device's clock,
        # or a forged date, must not pin an old fill level)
        self._snapshots: dict[str, tuple[datetime, CarParkSnapshotMessage]] = {}

    async def load(self) -> None:
        """Know the configured devices and the violations still open from earlier runs."""
        async with self.store.transaction():
            await self.store.add_devices(
                (site_id, edge.id) for site_id, site in self.sites.items() for edge in site.edges
            )
        self._open_keys = await self.store.open_keys()
        await self._load_parking()

    async def _load_parking(self) -> None:
        """Rebuild the newest fact per slot (and visitors inside) from stored events, so a
        restarted hub keeps timing a car that stood in the fire lane before."""
        empty: frozenset[str] = frozenset()
        if not hasattr(self.store, "events"):
            return  # a store without an event query (test doubles): start empty
        for kind in ("gate_decision", "slot_state"):
            rows = await self.store.events(kind=kind, limit=5000)
            for row in sorted(rows, key=lambda r: r["ts"]):
                site = self.sites.get(row["site"])
                if site is None:
                    continue
                message = parse_message(
                    json.dumps(
                        {
                            "schema": 1,
                            "id": row["id"],
                            "site": row["site"],
                            "device": row["device"],
                            "ts": row["ts"],
                            "kind": kind,
                            "payload": json.loads(row["payload"]),
                        }
                    )
                )
                self._parking_effects(message, site, empty)

    def _visitors_inside(self) -> dict[str, int]:
        return dict(Counter(site for site, _ in self.parking.visitors))

    @staticmethod
    def _relayed(message: CarParkSnapshotMessage, visitors: int) -> CarParkSnapshotMessage:
        """The snapshot as relayed to the gates: with the visitors the hub counts inside."""
        payload = message.payload.model_copy(update={"visitors_inside": visitors})
        return message.model_copy(update={"payload": payload})

    def _parking_effects(
        self, message: AnyMessage, site: SiteConfig, open_keys: frozenset[str]
    ) -> list[Effect]:
        if isinstance(message, SlotStateMessage):
            return on_slot_state(message, site, self.parking, open_keys)
        if isinstance(message, GateDecisionMessage):
            return on_gate_decision(message, site, self.parking, open_keys)
        return []

    # ---------------------------------------------------------------------- batches

    async def record(self, batch: Sequence[Checked]) -> Recorded:
        """Store a batch in one transaction. On a storage error raise ``StorageFault`` (the
        caller must not acknowledge any of it); on any other error store item by item, so
        one bad item cannot sink the rest."""
        try:
            return await self._record(batch)
        except Exception as exc:
            await self._after_rollback()
            if is_storage_error(exc):
                raise StorageFault.of(exc) from exc
            log.exception("batch of %d failed; retrying item by item", len(batch))
        done = Recorded()
        for item in batch:
            done.add(await self._record_one(item))
        return done

    async def _record_one(self, item: Checked) -> Recorded:
        try:
            return await self._record([item])
        except Exception as exc:
            await self._after_rollback()
            if is_storage_error(exc):
                raise StorageFault.of(exc) from exc
            log.exception("could not record a message on %s", item.topic)
            if not isinstance(item, Accepted):
                raise  # a reject or an ignored item that cannot be recorded: a bug
        try:  # a valid event whose rules failed: keep the event, skip its rules
            done = await self._record([item], rules=False)
            done.rules_skipped = len(done.new)
            return done
        except Exception as exc:
            await self._after_rollback()
            if is_storage_error(exc):
                raise StorageFault.of(exc) from exc
            log.exception("could not store %s even without rules", item.message.id)
            return await self._record([_as_rejected(item, exc)])

    async def _after_rollback(self) -> None:
        """The failed transaction rolled back: reload what it may have changed in memory."""
        try:
            self._open_keys = await self.store.open_keys()
        except Exception:  # storage down: keep the old keys; the next success reloads them
            log.warning("could not reload the open violations after a failed batch")

    async def _record(self, batch: Sequence[Checked], *, rules: bool = True) -> Recorded:
        accepted = [c for c in batch if isinstance(c, Accepted)]
        rejected = [c for c in batch if isinstance(c, Rejected)]
        ignored = sum(1 for c in batch if isinstance(c, Ignored))
        acks: list[dict[str, Any]] = []
        visitors_before = self._visitors_inside()
        relay: set[str] = set()  # sites whose snapshot (or visitor count) the gates must get
        async with self.store.transaction() as store:
            open_keys = set(self._open_keys)  # copied under the lock: the watchdog writes too
            new = await store.insert_events(accepted)
            if rejected:
                await store.insert_rejected(
                    self.reject_budget.select(rejected, self.rejects, time.monotonic())
                )
                await store.add_reject_counts(self.rejects.counts(rejected))
            await store.bump_counter("duplicates", len(accepted) - len(new))
            await store.bump_counter("ignored", ignored)
            await store.update_devices(_device_updates(new))
            for item in new if rules else ():
                site = self.sites[item.message.site]
                ctx = RuleContext(site.rules.unknown_vehicle_is_violation, frozenset(open_keys))
                for effect in evaluate(item.message, item.received_at, ctx):
                    await self._apply(effect, open_keys)
                for effect in self._parking_effects(item.message, site, frozenset(open_keys)):
                    await self._apply(effect, open_keys)
                message = item.message
                if isinstance(message, CarParkSnapshotMessage):
                    newest = self._snapshots.get(message.site)
                    if newest is None or newest[0] <= item.received_at:
                        self._snapshots[message.site] = (item.received_at, message)
                        relay.add(message.site)
                if isinstance(message, CommandAckMessage) and (
                    row := await self._ack(message, item.received_at)
                ):
                    acks.append(row)
            # a failed commit raises, and record() reloads the keys from the database
            self._open_keys = open_keys
        if self.on_command_ack:
            for row in acks:
                self.on_command_ack(row["id"], row)
        if self.on_carpark_snapshot:
            visitors = self._visitors_inside()
            for site_id, (_, message) in self._snapshots.items():
                if site_id in relay or visitors.get(site_id) != visitors_before.get(site_id):
                    self.on_carpark_snapshot(self._relayed(message, visitors.get(site_id, 0)))
        return Recorded(
            new=new,
            duplicates=len(accepted) - len(new),
            ignored=ignored,
            rejects=Counter(reason_code(r.reason) for r in rejected),
        )

    async def _apply(self, effect: Effect, open_keys: set[str]) -> None:
        if isinstance(effect, OpenViolation):
            company = self.sites[effect.site].site.company.id
            await self.store.open_violation(effect, company=company)
            if effect.open_key:  # newly opened, or already open in the database
                open_keys.add(effect.open_key)
        else:
            await self.store.resolve_violation(effect)
            open_keys.discard(effect.open_key)

    async def _ack(self, msg: CommandAckMessage, received_at: datetime) -> dict[str, Any] | None:
        ack = msg.payload
        command = await self.store.command_in_tx(ack.command_id)
        if command is None or (command["site"], command["device"]) != (msg.site, msg.device):
            # an ack for nothing we sent, or from a device that was not the addressee
            log.warning("ignoring ack %s from %s/%s", ack.command_id, msg.site, msg.device)
            await self.store.bump_counter("unmatched_acks")
            # An edge answering a command the hub never sent it: someone else commands it.
            company = self.sites[msg.site].site.company.id
            await self.store.open_violation(
                OpenViolation(
                    type=ViolationType.UNSOLICITED_ACK,
                    severity=Severity.CRITICAL,
                    site=msg.site,
                    device=msg.device,
                    gate=None,
                    subject=msg.device,
                    at=received_at,
                    detail=(
                        f"{msg.device} acknowledged command {ack.command_id} ({ack.result})"
                        " that the hub never sent it"
                    )[:500],
                    evidence=(msg.id,),
                ),
                company=company,
            )
            return None
        # a late ack (after the timeout) is recorded but the status stays "timeout"
        status = "acknowledged" if command["status"] == "sent" else command["status"]
        return await self.store.finish_command(
            ack.command_id,
            status=status,
            actor=f"{msg.site}/{msg.device}",
            at=received_at,
            only_if_sent=False,
            ack_result=ack.result.value,
            ack_detail=ack.detail,
            acked_at=received_at,
        )

    # ---------------------------------------------------------------------- watchdog

    async def check_silence(self, *, watching_since: datetime, now: datetime | None = None) -> int:
        """Open device_offline for devices silent beyond their site's limit; return how many."""
        now = now or utcnow()
        limits = {k: s.rules.device_offline_after_s for k, s in self.sites.items()}
        # read and write in one transaction, so a message stored meanwhile cannot be missed
        async with self.store.transaction() as store:
            open_keys = set(self._open_keys)
            found = silent_devices(
                await store.devices_seen(),
                now=now,
                watching_since=watching_since,
                offline_after_s=limits,
                open_keys=frozenset(open_keys),
            )
            for violation in found:
                await self._apply(violation, open_keys)
                assert violation.device is not None
                await store.mark_offline(violation.site, violation.device)
            self._open_keys = open_keys
        return len(found)

    async def check_parking(self, *, now: datetime | None = None) -> int:
        """Open the parking violations whose time has come (fire lane / no-parking beyond
        the zone's limit, visitors past their pass); return how many."""
        now = now or utcnow()
        async with self.store.transaction():
            open_keys = set(self._open_keys)
            found = due_violations(self.parking, self.sites, now, frozenset(open_keys))
            for violation in found:
                await self._apply(violation, open_keys)
            self._open_keys = open_keys
        return len(found)


def _device_updates(new: Sequence[Accepted]) -> list[DeviceUpdate]:
    """Fold a batch's events into one update per device; later messages win."""
    latest: dict[tuple[str, str], DeviceUpdate] = {}
    for item in new:
        msg = item.message
        key = (msg.site, msg.device)
        prev = latest.get(key)
        if is_offline_status(msg):
            reason = msg.payload.reason or "offline"
            latest[key] = DeviceUpdate(
                *key,
                online=False,
                last_seen=prev.last_seen if prev else None,
                last_heartbeat=prev.last_heartbeat if prev else None,
                # the LWT's timestamp is from when the will was registered; arrival is the fact
                offline_since=(prev.offline_since if prev else None) or item.received_at,
                reason=reason,
            )
            continue
        seen = seen_at(msg, item.received_at)
        heartbeat = seen if isinstance(msg.payload, Heartbeat) else None
        if prev:
            seen = max(seen, prev.last_seen) if prev.last_seen else seen
            if prev.last_heartbeat:
                heartbeat = max(heartbeat or prev.last_heartbeat, prev.last_heartbeat)
        latest[key] = DeviceUpdate(*key, online=True, last_seen=seen, last_heartbeat=heartbeat)
    return list(latest.values())


def _as_rejected(item: Accepted, exc: Exception) -> Rejected:
    payload = item.message.to_json()
    return Rejected(
        topic=item.topic,
        reason=f"internal error while storing: {type(exc).__name__}: {exc}"[:500],
        received_at=item.received_at,
        payload_size=len(payload),
        payload_head=payload[:200].decode("utf-8", errors="backslashreplace"),
        mid=item.mid,
        qos=item.qos,
    )
