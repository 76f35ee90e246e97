"""Two community brokers bridged to one county broker (issue 16), all three on the config
`anju broker-config --county-bridge` generates (TLS, passwords, ACLs on), and one hub at
the county: events of both communities are stored; a command and the sync lists reach the
right community's edge only, though both communities have an ``edge-north``; events sent
while the county link is down are queued by the community broker and arrive after it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from anju_cli.broker.files import LayoutPlan, write_layout
from anju_cli.broker.policy import Listener
from hub.service import Hub
from models import topics
from models.messages import EnvelopeBase, Kind, make_message
from tests.mosquitto import GeneratedBroker, free_port
from tests.transport.broker_layout import Layout, TlsClient, community

pytestmark = pytest.mark.e2e

SITES = ("lakeside", "hillside")


@pytest.fixture
def county(tmp_path: Path) -> Iterator[tuple[Layout, dict[str, GeneratedBroker]]]:
    ports = {name: free_port() for name in ("county", *SITES)}
    out = tmp_path / "layout"
    write_layout(
        LayoutPlan(
            sites=[(community(s), f"{s}.yaml") for s in SITES],
            out=out,
            county_bridges=[f"127.0.0.1:{ports['county']}"],
            listener=Listener(bind="127.0.0.1"),
            ports=ports,
        )
    )
    layout = Layout(out)
    brokers = {name: GeneratedBroker(layout.broker_dir(name), port) for name, port in ports.items()}
    for broker in brokers.values():
        broker.start()
    yield layout, brokers
    for broker in brokers.values():
        broker.stop()


def heartbeat(site: str, device: str) -> EnvelopeBase:
    payload = {"uptime_s": 1.0, "outbox_pending": 0}
    return make_message(Kind.HEARTBEAT, site=site, device=device, payload=payload)


async def send(edge: TlsClient, site: str, device: str = "edge-north") -> None:
    info = edge.client.publish(
        str(topics.event(site, device, "heartbeat")), heartbeat(site, device).to_json(), qos=1
    )
    await asyncio.to_thread(info.wait_for_publish, 5)


async def events_reach(hub: Hub, n: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while (events := (await hub.counts()).get("events", 0)) < n:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    return events


async def test_two_communities_bridged_to_one_county_hub(
    county: tuple[Layout, dict[str, GeneratedBroker]], tmp_path: Path
) -> None:
    layout, brokers = county
    hub = Hub(
        [community(s) for s in SITES],
        broker_url=brokers["county"].url,
        data_dir=tmp_path / "hub",
        credentials=layout.login("anju-hub"),
        tls=layout.tls("anju-hub"),
    )
    await hub.start(connect_timeout_s=10)
    edges = {
        site: await asyncio.to_thread(TlsClient, brokers[site].port, layout, f"edge-north@{site}")
        for site in SITES
    }
    try:
        for site, edge in edges.items():
            assert not edge.refused, (site, edge.reason)
            edge.client.subscribe(
                [(f"anju/{site}/edge-north/cmd/+", 1), (f"anju/{site}/sync/+", 1)]
            )
            edge.client.subscribe("anju/+/sync/+", 1)  # refused or filtered: never another site's
        for site, edge in edges.items():
            await send(edge, site)
        assert await events_reach(hub, 2) == 2
        # the retained vehicle lists the hub published at the county reach each community
        for site, edge in edges.items():
            assert edge.wait_for(lambda c, s=site: f"anju/{s}/sync/vehicles" in c.topics(), 15)
        outcome = asyncio.create_task(
            hub.send_gate_command(
                "lakeside", "edge-north", "north-vehicle", "open", "bridge test", "guard", 2
            )
        )
        command = "anju/lakeside/edge-north/cmd/gate"
        # (in a thread: the hub's task must run meanwhile)
        got = edges["lakeside"].wait_for
        assert await asyncio.to_thread(got, lambda c: command in c.topics(), 10)
        await asyncio.sleep(0.5)
        assert not any("/cmd/" in t for t in edges["hillside"].topics())
        for site, edge in edges.items():
            assert all(t.startswith(f"anju/{site}/") for t in edge.topics()), edge.topics()
        await outcome  # no ack from this test's edge: a timeout, recorded by the hub
    finally:
        for edge in edges.values():
            edge.close()
        await hub.stop()


async def test_events_queue_in_the_community_while_the_county_link_is_down(
    county: tuple[Layout, dict[str, GeneratedBroker]], tmp_path: Path
) -> None:
    layout, brokers = county
    hub = Hub(
        [community(s) for s in SITES],
        broker_url=brokers["county"].url,
        data_dir=tmp_path / "hub",
        credentials=layout.login("anju-hub"),
        tls=layout.tls("anju-hub"),
    )
    await hub.start(connect_timeout_s=10)
    edge = await asyncio.to_thread(
        TlsClient, brokers["lakeside"].port, layout, "edge-north@lakeside"
    )
    try:
        await send(edge, "lakeside")
        assert await events_reach(hub, 1) == 1
        brokers["county"].stop()  # the county link is down; the edge's broker is not
        for _ in range(5):
            await send(edge, "lakeside")  # PUBACKed by the community broker
        brokers["county"].start()  # persistence: the hub's session and the bridge's come back
        assert await events_reach(hub, 6, timeout=60) == 6
    finally:
        edge.close()
        await hub.stop()


def test_two_hub_workers_share_one_subscription_under_the_generated_acl(tmp_path: Path) -> None:
    """Issue 16's hub workers: one broker user each (``--hub-user``, their client ids), one
    MQTT shared subscription; the ACL lets both read it and each event goes to one of them."""
    port = free_port()
    out = tmp_path / "layout"
    write_layout(
        LayoutPlan(
            sites=[(community("lakeside"), "lakeside.yaml")],
            out=out,
            hub_users=["anju-hub-1", "anju-hub-2"],
            listener=Listener(bind="127.0.0.1"),
            ports={"community": port},
        )
    )
    layout = Layout(out)
    broker = GeneratedBroker(layout.broker_dir("community"), port)
    broker.start()
    workers = [TlsClient(port, layout, user) for user in ("anju-hub-1", "anju-hub-2")]
    edge = TlsClient(port, layout, "edge-north@lakeside")
    try:
        for worker in workers:
            assert not worker.refused
            worker.client.subscribe("$share/anju-hub/anju/+/+/events/+", 1)
        time.sleep(0.5)
        for _ in range(20):
            topic = str(topics.event("lakeside", "edge-north", "heartbeat"))
            payload = heartbeat("lakeside", "edge-north").to_json()
            edge.client.publish(topic, payload, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while sum(len(w.topics()) for w in workers) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # and no copies
        assert sum(len(w.topics()) for w in workers) == 20, [len(w.topics()) for w in workers]
        assert all(w.topics() for w in workers)  # shared: both got some
    finally:
        for client in (*workers, edge):
            client.close()
        broker.stop()
