"""Checks every incoming MQTT message before it may be stored (pure, no I/O).

A message is accepted only when its payload is a valid Anju envelope, its topic
belongs to the tree, the topic's site/device equal the envelope's (a device may not
speak for another), the kind is allowed on that channel, and the site, device and
gate are known to the site configuration, the device's timestamp lies within the site's
bounds around the hub's receive time (``rules.max_clock_ahead_s`` ahead,
``rules.max_event_age_s`` behind), and a car-park snapshot comes from the site's car-park
edge. Anything else becomes a ``Rejected`` with a short reason; nothing here raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from models.messages import MAX_PAYLOAD_BYTES, AnyMessage, Kind, MessageError, parse_message
from models.site import SiteConfig
from models.topics import Channel, Topic, TopicError, parse_topic

# What an edge may publish on each channel. Hub -> edge kinds (gate_command,
# vehicle_list) are never accepted from a device.
EVENT_KINDS = frozenset(
    {
        Kind.PLATE_READ,
        Kind.FACE_MATCH,
        Kind.GATE_DECISION,
        Kind.GATE_STATE,
        Kind.SLOT_STATE,
        Kind.HEARTBEAT,
        Kind.ALARM,
        Kind.COMMAND_ACK,
    }
)
STATE_KINDS = frozenset({Kind.GATE_STATE, Kind.SLOT_STATE, Kind.CARPARK_SNAPSHOT})
AVAILABLE_KINDS = frozenset({Kind.DEVICE_STATUS})

PAYLOAD_HEAD_BYTES = 200  # how much of a rejected payload is kept for diagnosis
TOPIC_CACHE_SIZE = 10_000  # parsed topics kept (devices x kinds); cleared when full


@dataclass(frozen=True, slots=True)
class Accepted:
    message: AnyMessage
    topic: str
    received_at: datetime
    retained: bool = False
    mid: int = 0  # MQTT packet id, acknowledged once the message is committed
    qos: int = 0
    epoch: int = 0  # the MQTT connection it arrived on (Received.epoch)


@dataclass(frozen=True, slots=True)
class Rejected:
    topic: str
    reason: str
    received_at: datetime
    payload_size: int
    payload_head: str
    mid: int = 0
    qos: int = 0
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class Ignored:
    """Not an error: an empty retained payload clears a retained topic."""

    topic: str
    reason: str
    mid: int = 0
    qos: int = 0
    epoch: int = 0


Checked = Accepted | Rejected | Ignored


def payload_head(payload: bytes) -> str:
    return payload[:PAYLOAD_HEAD_BYTES].decode("utf-8", errors="backslashreplace")


class Validator:
    """Validates raw (topic, payload) pairs against the contracts and the site configs."""

    def __init__(self, sites: list[SiteConfig]) -> None:
        self._devices: dict[str, dict[str, frozenset[str]]] = {
            site.site.id: {edge.id: frozenset(edge.gates) for edge in site.edges} for site in sites
        }
        self._car_park_edges = {
            site.site.id: frozenset(e.id for e in site.edges if e.car_park) for site in sites
        }
        self._time_bounds = {
            site.site.id: (
                timedelta(seconds=site.rules.max_event_age_s),
                timedelta(seconds=site.rules.max_clock_ahead_s),
            )
            for site in sites
        }
        # Parsing a topic cost as much as validating the payload (profiled); a site has few
        # distinct topics, so each is parsed once. Only called from one thread (paho's).
        self._topics: dict[str, Topic | str] = {}

    def check(
        self,
        topic: str,
        payload: bytes,
        received_at: datetime,
        *,
        retained: bool = False,
        mid: int = 0,
        qos: int = 0,
        epoch: int = 0,
    ) -> Checked:
        if not payload and retained:
            return Ignored(topic, "empty retained payload (cleared)", mid, qos, epoch)
        try:
            reason_or_message = self._check(topic, payload, received_at)
        except Exception as exc:  # a bug here must never stop ingestion
            reason_or_message = f"internal validation error: {type(exc).__name__}: {exc}"
        if isinstance(reason_or_message, str):
            return Rejected(
                topic,
                reason_or_message,
                received_at,
                len(payload),
                payload_head(payload),
                mid,
                qos,
                epoch,
            )
        return Accepted(reason_or_message, topic, received_at, retained, mid, qos, epoch)

    def _check(self, topic_text: str, payload: bytes, received_at: datetime) -> AnyMessage | str:
        topic = self._topics.get(topic_text)
        if topic is None:
            try:
                topic = parse_topic(topic_text)
            except TopicError as exc:
                topic = f"topic: {exc}"
            if len(self._topics) >= TOPIC_CACHE_SIZE:
                self._topics.clear()
            self._topics[topic_text] = topic
        if isinstance(topic, str):
            return topic
        if len(payload) > MAX_PAYLOAD_BYTES:
            return f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}"
        try:
            message = parse_message(payload)
        except MessageError as exc:
            return f"payload: {exc.reason}"
        return (
            self._check_routing(topic, message) or self._check_time(message, received_at) or message
        )

    def _check_time(self, message: AnyMessage, received_at: datetime) -> str | None:
        """A device clock far off (or a forged date) must not reach rules and ratings: a
        2099 alarm opened a violation outside every rating period."""
        behind, ahead = self._time_bounds[message.site]
        if message.ts > received_at + ahead:
            return (
                f"timestamp {message.ts.isoformat()} is more than {ahead.total_seconds():g} s"
                " ahead of the hub's clock (rules.max_clock_ahead_s)"
            )
        if message.ts < received_at - behind:
            return (
                f"timestamp {message.ts.isoformat()} is more than {behind.total_seconds():g} s"
                " behind the hub's clock (rules.max_event_age_s)"
            )
        return None

    def _check_routing(self, topic: Topic, message: AnyMessage) -> str | None:
        kind = Kind(message.kind)
        if message.site != topic.site:
            return f"envelope site {message.site!r} does not match topic site {topic.site!r}"
        if message.device != topic.device:
            return (
                f"envelope device {message.device!r} does not match topic device {topic.device!r}"
            )
        if reason := _channel_error(topic, kind):
            return reason
        devices = self._devices.get(topic.site)
        if devices is None:
            return f"unknown site {topic.site!r}"
        gates = devices.get(message.device)
        if gates is None:
            return f"device {message.device!r} is not configured for site {topic.site!r}"
        # the field's value, not getattr: pydantic's __getattr__ for a missing one is slow
        if kind is Kind.CARPARK_SNAPSHOT and message.device not in self._car_park_edges[topic.site]:
            # the gates refuse visitors on this: only the car-park edge may say it is full
            return (
                f"car-park snapshot from {message.device!r}, not a car_park edge of {topic.site!r}"
            )
        gate = vars(message.payload).get("gate")
        if gate is not None and gate not in gates:
            return f"gate {gate!r} does not belong to device {message.device!r}"
        return None


def _channel_error(topic: Topic, kind: Kind) -> str | None:
    if topic.channel is Channel.AVAILABLE:
        allowed = AVAILABLE_KINDS
    elif topic.channel is Channel.EVENTS:
        allowed = EVENT_KINDS
    elif topic.channel is Channel.STATE:
        allowed = STATE_KINDS
    else:
        return f"the hub does not accept messages on the {topic.channel} channel"
    if kind not in allowed:
        return f"kind {kind.value!r} is not allowed on the {topic.channel} channel"
    if topic.name is not None and topic.name != kind.value:
        return f"topic names kind {topic.name!r} but the envelope is {kind.value!r}"
    return None
