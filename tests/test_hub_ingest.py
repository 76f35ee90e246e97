"""The MQTT callback side of the hub, without a broker: URL parsing, the rate-limited
warning, and a message callback that never raises."""

from __future__ import annotations

import asyncio
import logging

import paho.mqtt.client as mqtt
import pytest

from hub.ingest import BrokerAddress, MqttIngest, RateLimitedWarning
from hub.validate import Accepted, Rejected, Validator
from tests.test_hub_support import heartbeat, lakeside, topic_for


def test_broker_address() -> None:
    assert BrokerAddress.parse("mqtt://127.0.0.1:18830") == BrokerAddress("127.0.0.1", 18830, False)
    assert BrokerAddress.parse("mqtts://hub.example") == BrokerAddress("hub.example", 8883, True)
    assert BrokerAddress.parse("mqtt://broker") == BrokerAddress("broker", 1883, False)
    with pytest.raises(ValueError, match="mqtt://host:port"):
        BrokerAddress.parse("http://broker:1883")


def test_rate_limited_warning_counts_what_it_held_back(caplog) -> None:
    logger = logging.getLogger("test.hub.ratelimit")
    warning = RateLimitedWarning(logger, interval_s=60)
    with caplog.at_level(logging.WARNING, logger="test.hub.ratelimit"):
        assert warning.warn("bad %s", 1)
        assert not any(warning.warn("bad %s", i) for i in range(5))
    assert [r.getMessage() for r in caplog.records] == ["bad 1"]
    warning._last -= 120  # the interval has passed
    with caplog.at_level(logging.WARNING, logger="test.hub.ratelimit"):
        assert warning.warn("bad %s", 7)
    assert caplog.records[-1].getMessage() == "bad 7 (5 similar warnings suppressed)"


def _mqtt_message(topic: bytes, payload: bytes, mid: int) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(mid=mid, topic=topic)
    msg.payload = payload
    msg.qos = 1
    return msg


async def test_on_message_never_raises_and_hands_everything_over() -> None:
    delivered: list = []
    ingest = MqttIngest(
        broker_url="mqtt://127.0.0.1:1",
        client_id="t",
        validator=Validator([lakeside()]),
        loop=asyncio.get_running_loop(),
        deliver=delivered.append,
    )
    good = heartbeat()
    ingest._on_message(None, None, _mqtt_message(topic_for(good).encode(), good.to_json(), 1))
    ingest._on_message(None, None, _mqtt_message(b"anju/\xff\xfe/x", b"{}", 2))  # not UTF-8
    ingest._on_message(None, None, _mqtt_message(topic_for(good).encode(), b"\x00", 3))
    await asyncio.sleep(0.01)  # the hand-over is call_soon_threadsafe
    assert [type(d) for d in delivered] == [Accepted, Rejected, Rejected]
    assert [d.mid for d in delivered] == [1, 2, 3]
    assert delivered[1].reason.startswith("internal error: UnicodeDecodeError")
    assert ingest.received == 3
