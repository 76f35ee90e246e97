"""The test broker itself: starts, carries a QoS 1 message, restarts on the same port."""

import threading

import paho.mqtt.client as mqtt

from tests.mosquitto import MosquittoBroker


def _roundtrip(broker: MosquittoBroker, topic: str) -> bytes:
    got = threading.Event()
    received: list[bytes] = []

    def on_message(_c, _u, msg):
        received.append(msg.payload)
        got.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = on_message
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    import time

    time.sleep(0.2)
    pub.publish(topic, b"hello", qos=1).wait_for_publish(5)
    assert got.wait(5), broker.log()
    for c in (sub, pub):
        c.loop_stop()
        c.disconnect()
    return received[0]


def test_roundtrip_and_restart(mosquitto: MosquittoBroker) -> None:
    assert _roundtrip(mosquitto, "t/00/a") == b"hello"
    port = mosquitto.port
    mosquitto.stop()
    mosquitto.start()
    assert mosquitto.port == port
    assert _roundtrip(mosquitto, "t/00/b") == b"hello"
