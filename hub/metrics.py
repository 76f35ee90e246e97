"""The hub's Prometheus metrics (prometheus-client), one registry per hub.

Served as text on ``/metrics`` by the ops listener (hub/ops.py). Names follow Prometheus
conventions (``_total`` for counters, base units: seconds, messages):

    anju_hub_messages_received_total            every MQTT message received (redeliveries too)
    anju_hub_messages_stored_total{kind}        events stored for the first time
    anju_hub_messages_duplicate_total           redelivered copies of stored events
    anju_hub_messages_rejected_total{reason}    invalid messages, by reason code (hub/rejects.py)
    anju_hub_backlog_messages                   received but not yet acknowledged
    anju_hub_batch_seconds                      time to store and acknowledge one batch
    anju_hub_storage_errors_total{kind}         failed storage attempts (disk_full, io_error...)
    anju_hub_storage_fault                      1 while storage is failing (nothing is acked)
    anju_hub_redelivery_requests_total          reconnects asking the broker to resend
    anju_hub_broker_connected                   1 while connected to the broker
    anju_hub_device_last_seen_timestamp_seconds{site,device}
    anju_hub_command_round_trip_seconds         gate command sent -> its ack stored
    anju_hub_commands_total{status}             gate commands by outcome
    anju_edge_outbox_pending{site,device}       an edge's undelivered outbox rows (heartbeat)
    anju_edge_outbox_oldest_seconds{site,device} age of its oldest undelivered row (heartbeat)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.rejects import REASON_CODES
from hub.validate import Accepted
from models.messages import HeartbeatMessage

disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series (noise)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BATCH_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COMMAND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True, slots=True)
class LiveValues:
    """Values the hub already keeps, read at scrape time (no double bookkeeping)."""

    received: Callable[[], int]
    backlog: Callable[[], int]
    storage_fault: Callable[[], bool]
    broker_connected: Callable[[], bool]


class _LiveCollector(Collector):
    def __init__(self, live: LiveValues) -> None:
        self._live = live

    def collect(self) -> Iterable[Metric]:
        live = self._live
        yield CounterMetricFamily(
            "anju_hub_messages_received", "MQTT messages received", value=live.received()
        )
        yield GaugeMetricFamily(
            "anju_hub_backlog_messages",
            "messages received but not yet acknowledged",
            value=live.backlog(),
        )
        yield GaugeMetricFamily(
            "anju_hub_storage_fault",
            "1 while storage is failing and nothing is acknowledged",
            value=int(live.storage_fault()),
        )
        yield GaugeMetricFamily(
            "anju_hub_broker_connected",
            "1 while connected to the broker",
            value=int(live.broker_connected()),
        )


class HubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.stored = Counter(
            "anju_hub_messages_stored", "events stored for the first time", ["kind"], registry=r
        )
        self.duplicates = Counter(
            "anju_hub_messages_duplicate", "redelivered copies of stored events", registry=r
        )
        self.rejected = Counter(
            "anju_hub_messages_rejected", "invalid messages by reason code", ["reason"], registry=r
        )
        for code in REASON_CODES:
            self.rejected.labels(code)  # every reason present from the start, at 0
        self.batch_seconds = Histogram(
            "anju_hub_batch_seconds",
            "time to store and acknowledge one batch",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.storage_errors = Counter(
            "anju_hub_storage_errors", "failed storage attempts by kind", ["kind"], registry=r
        )
        self.redeliveries = Counter(
            "anju_hub_redelivery_requests",
            "reconnects asking the broker to resend what it holds",
            registry=r,
        )
        self.last_seen = Gauge(
            "anju_hub_device_last_seen_timestamp_seconds",
            "when the hub last heard from a device (Unix time)",
            ["site", "device"],
            registry=r,
        )
        self.command_rtt = Histogram(
            "anju_hub_command_round_trip_seconds",
            "gate command published -> its acknowledgement stored",
            buckets=COMMAND_BUCKETS,
            registry=r,
        )
        self.commands = Counter(
            "anju_hub_commands", "gate commands by outcome", ["status"], registry=r
        )
        self.edge_outbox_pending = Gauge(
            "anju_edge_outbox_pending",
            "an edge's undelivered outbox rows (from its heartbeat)",
            ["site", "device"],
            registry=r,
        )
        self.edge_outbox_oldest = Gauge(
            "anju_edge_outbox_oldest_seconds",
            "age of an edge's oldest undelivered outbox row (from its heartbeat)",
            ["site", "device"],
            registry=r,
        )

    def watch(self, live: LiveValues) -> None:
        self.registry.register(_LiveCollector(live))

    def batch_stored(
        self, new: Sequence[Accepted], duplicates: int, rejects: dict[str, int]
    ) -> None:
        kinds: dict[str, int] = {}
        seen: dict[tuple[str, str], float] = {}
        for item in new:
            message = item.message
            kinds[message.kind] = kinds.get(message.kind, 0) + 1
            key = (message.site, message.device)
            seen[key] = max(seen.get(key, 0.0), item.received_at.timestamp())
            if isinstance(message, HeartbeatMessage):
                beat = message.payload
                self.edge_outbox_pending.labels(*key).set(beat.outbox_pending)
                if beat.outbox_oldest_s is not None:
                    self.edge_outbox_oldest.labels(*key).set(beat.outbox_oldest_s)
        for kind, n in kinds.items():
            self.stored.labels(kind).inc(n)
        for key, at in seen.items():
            self.last_seen.labels(*key).set(at)
        if duplicates:
            self.duplicates.inc(duplicates)
        for code, n in rejects.items():
            self.rejected.labels(code).inc(n)

    def text(self) -> bytes:
        return generate_latest(self.registry)
