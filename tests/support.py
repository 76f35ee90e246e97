"""Builders shared by the hub tests (no tests here): messages, topics, a plain paho client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt

from models import topics
from models.messages import EnvelopeBase, Kind, make_message
from models.site import Rules, SiteConfig, load_site_config

SITE = "lakeside"
NORTH = "edge-north"
NORTH_GATE = "north-vehicle"
EAST = "edge-east"
EAST_GATE = "east-pedestrian"
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def lakeside(**rules: Any) -> SiteConfig:
    site = load_site_config()
    if rules:
        site = site.model_copy(update={"rules": Rules(**{**site.rules.model_dump(), **rules})})
    return site


def message(
    kind: Kind, payload: dict[str, Any], *, device: str = NORTH, **envelope: Any
) -> EnvelopeBase:
    return make_message(kind, site=SITE, device=device, payload=payload, **envelope)


def heartbeat(device: str = NORTH, **envelope: Any) -> EnvelopeBase:
    return message(
        Kind.HEARTBEAT, {"uptime_s": 1.0, "outbox_pending": 0}, device=device, **envelope
    )


def decision(
    subject: str,
    decision: str,
    reason: str,
    *,
    credential: str = "plate",
    gate: str = NORTH_GATE,
    device: str = NORTH,
    source_event: str | None = None,
    **envelope: Any,
) -> EnvelopeBase:
    payload = {
        "gate": gate,
        "credential": credential,
        "subject": subject,
        "decision": decision,
        "reason": reason,
        "source_event": source_event,
    }
    return message(Kind.GATE_DECISION, payload, device=device, **envelope)


def plate_read(plate: str = "浙HA1234", **envelope: Any) -> EnvelopeBase:
    payload = {
        "gate": NORTH_GATE,
        "plate": plate,
        "color": "blue",
        "confidence": 0.95,
        "frames": 3,
    }
    return message(Kind.PLATE_READ, payload, **envelope)


def status(online: bool, device: str = NORTH, reason: str = "", **envelope: Any) -> EnvelopeBase:
    return message(
        Kind.DEVICE_STATUS, {"online": online, "reason": reason}, device=device, **envelope
    )


def alarm(
    type_: str,
    *,
    severity: str = "warning",
    gate: str | None = NORTH_GATE,
    subject: str | None = None,
    source_event: str | None = None,
    **env: Any,
):
    payload = {"type": type_, "gate": gate, "severity": severity}
    payload |= {"subject": subject, "source_event": source_event}
    return message(Kind.ALARM, payload, **env)


def ack(command_id: str, result: str = "done", device: str = NORTH) -> EnvelopeBase:
    return message(Kind.COMMAND_ACK, {"command_id": command_id, "result": result}, device=device)


def topic_for(msg: EnvelopeBase) -> str:
    """The topic an edge publishes ``msg`` on."""
    kind = msg.kind  # type: ignore[attr-defined]
    if kind == Kind.DEVICE_STATUS:
        return str(topics.available(msg.site, msg.device))
    return str(topics.event(msg.site, msg.device, kind))


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class PahoClient:
    """A plain paho client for tests: connect, publish QoS 1, collect messages."""

    def __init__(
        self,
        port: int,
        client_id: str = "",
        *,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.received: list[mqtt.MQTTMessage] = []
        self._cond = threading.Condition()
        self.on_message: Callable[[PahoClient, mqtt.MQTTMessage], None] | None = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        deadline = time.monotonic() + 5
        while not self.client.is_connected():
            if time.monotonic() > deadline:
                raise TimeoutError("test client could not connect")
            time.sleep(0.01)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.received.append(msg)
            self._cond.notify_all()
        if self.on_message:
            self.on_message(self, msg)

    def subscribe(self, topic: str) -> None:
        result, _mid = self.client.subscribe(topic, qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=1, retain=retain)

    def send(self, msg: EnvelopeBase, *, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.publish(topic_for(msg), msg.to_json(), retain=retain)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[mqtt.MQTTMessage]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def faces_hub(broker_url: str, site: SiteConfig, data_dir: Any) -> Any:
    """A hub with its face sync (what ``anju hub`` runs), without the timers tests don't need."""
    from hub.app import HubApp

    return HubApp(
        [site], broker_url=broker_url, data_dir=data_dir, deadlines=False, retention=False
    )
