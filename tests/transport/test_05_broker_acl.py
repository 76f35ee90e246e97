"""The production broker policy (config/mosquitto/anju.acl) on a real mosquitto.

No anonymous clients; an edge can publish only on its own branch and cannot
forge commands or sync lists; the hub reads everything.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from models import topics
from models.site import PROJECT_ROOT
from tests.mosquitto import MosquittoBroker

ACL = PROJECT_ROOT / "config" / "mosquitto" / "anju.acl"
USERS = {"anju-hub": "hub-secret", "edge-north": "north-secret", "edge-south": "south-secret"}


@pytest.fixture
def secured(tmp_path: Path):
    passwd = tmp_path / "passwd"
    passwd.touch()
    for user, password in USERS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    broker = MosquittoBroker(
        tmp_path,
        extra_config=f"allow_anonymous false\npassword_file {passwd}\nacl_file {ACL}",
    )
    broker.start()
    yield broker
    broker.stop()


def _client(broker: MosquittoBroker, user: str | None, password: str | None):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.time_ns()}")
    if user:
        client.username_pw_set(user, password)
    result: list = []
    connected = threading.Event()

    def on_connect(_c, _u, _f, reason_code, _p):
        result.append(reason_code)
        connected.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    assert connected.wait(5)
    return client, result[0]


def test_anonymous_and_wrong_password_refused(secured: MosquittoBroker) -> None:
    for user, password in [(None, None), ("edge-north", "wrong")]:
        client, code = _client(secured, user, password)
        assert code.is_failure, (user, code)
        client.loop_stop()


def test_edge_confined_to_its_own_branch(secured: MosquittoBroker) -> None:
    hub, code = _client(secured, "anju-hub", USERS["anju-hub"])
    assert not code.is_failure
    seen: list[str] = []
    hub.on_message = lambda _c, _u, msg: seen.append(msg.topic)
    hub.subscribe("anju/#", qos=1)
    edge, _ = _client(secured, "edge-north", USERS["edge-north"])
    time.sleep(0.3)
    allowed = str(topics.event("lakeside", "edge-north", "plate_read"))
    forged = [
        str(topics.event("lakeside", "edge-south", "plate_read")),  # speaking for another edge
        str(topics.command("lakeside", "edge-south", "gate")),  # forging a command
        str(topics.sync("lakeside", "vehicles")),  # forging the allow list
    ]
    for topic in [*forged, allowed]:
        edge.publish(topic, b"{}", qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while allowed not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert seen == [allowed]
    for c in (hub, edge):
        c.loop_stop()
        c.disconnect()
