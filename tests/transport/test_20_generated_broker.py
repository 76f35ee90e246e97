"""The production broker config `anju broker-config` generates, on a real mosquitto with
TLS, passwords and the ACL on: the hub logs in (and fails clearly when it cannot), an edge
of one community can neither read another's sync lists nor speak for its same-named device,
anonymous clients and a certificate without a password are refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from anju_cli.broker import pki
from anju_cli.broker.files import LayoutPlan, write_layout
from anju_cli.broker.policy import Listener
from hub.service import Hub
from models import topics
from models.messages import EnvelopeBase, Kind, make_message
from tests.mosquitto import GeneratedBroker, free_port
from tests.transport.broker_layout import Layout, TlsClient, community
from transport import Credentials, TlsSettings

pytestmark = pytest.mark.e2e

HUB = "anju-hub"
NORTH_A = "edge-north@lakeside"
SITES = ("lakeside", "hillside")


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    out = tmp_path_factory.mktemp("layout")
    write_layout(
        LayoutPlan(
            sites=[(community(s), f"{s}.yaml") for s in SITES],
            out=out,
            listener=Listener(port=8883, bind="127.0.0.1"),
        )
    )
    return Layout(out)


@pytest.fixture
def broker(layout: Layout, tmp_path: Path) -> Iterator[GeneratedBroker]:
    """The generated single broker, on a free port (the only change: `listener`)."""
    directory = layout.broker_dir("community")
    port = free_port()
    conf = (directory / "mosquitto.conf").read_text().replace("listener 8883", f"listener {port}")
    run_dir = tmp_path / "broker"
    run_dir.mkdir()
    (run_dir / "mosquitto.conf").write_text(conf)
    broker = GeneratedBroker(run_dir, port)
    broker.start()
    yield broker
    broker.stop()


def heartbeat(device: str, *, site: str) -> EnvelopeBase:
    payload = {"uptime_s": 1.0, "outbox_pending": 0}
    return make_message(Kind.HEARTBEAT, site=site, device=device, payload=payload)


async def published(client: TlsClient, topic: str, message: EnvelopeBase) -> None:
    info = client.client.publish(topic, message.to_json(), qos=1)
    await asyncio.to_thread(info.wait_for_publish, 5)


def make_hub(broker: GeneratedBroker, layout: Layout, data: Path, **login: object) -> Hub:
    options = {"credentials": layout.login(HUB), "tls": layout.tls(HUB), **login}
    return Hub(
        [community(s) for s in SITES],
        broker_url=broker.url,
        data_dir=data,
        **options,  # type: ignore[arg-type]
    )


async def test_hub_logs_in_with_password_and_tls_and_stores_an_edge_event(
    broker: GeneratedBroker, layout: Layout, tmp_path: Path
) -> None:
    hub = make_hub(broker, layout, tmp_path / "hub")
    await hub.start(connect_timeout_s=10)
    edge = await asyncio.to_thread(TlsClient, broker.port, layout, NORTH_A)
    try:
        assert not edge.refused
        beat = heartbeat("edge-north", site="lakeside")
        topic = str(topics.event("lakeside", "edge-north", "heartbeat"))
        await asyncio.to_thread(
            edge.client.publish(topic, beat.to_json(), qos=1).wait_for_publish, 5
        )
        deadline = time.monotonic() + 10
        while (await hub.counts()).get("events", 0) < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert (await hub.counts())["events"] == 1
        # use_username_as_clientid: the broker knows the hub by its username
        assert f"as {HUB} (" in broker.log(), broker.log()
    finally:
        edge.close()
        await hub.stop()


def _other_ca(tmp_path: Path) -> Path:
    path = tmp_path / "other-ca.crt"
    path.write_bytes(pki.new_ca("someone else").cert_pem)
    return path


@pytest.mark.parametrize(
    "case, expected",
    [
        ("no login", "Not authorized"),
        ("wrong password", "Not authorized"),
        ("wrong CA", "certificate verify failed"),
        ("no client certificate", "TLS"),
    ],
)
async def test_hub_without_the_right_login_or_ca_fails_clearly(
    broker: GeneratedBroker, layout: Layout, tmp_path: Path, case: str, expected: str
) -> None:
    options: dict[str, object] = {
        "no login": {"credentials": None},
        "wrong password": {"credentials": Credentials(HUB, "wrong")},
        "wrong CA": {
            "tls": TlsSettings(
                ca_file=_other_ca(tmp_path),
                cert_file=layout.tls(HUB).cert_file,
                key_file=layout.tls(HUB).key_file,
            )
        },
        "no client certificate": {"tls": TlsSettings(ca_file=layout.tls(HUB).ca_file)},
    }[case]  # type: ignore[assignment]
    hub = make_hub(broker, layout, tmp_path / "hub", **options)
    started = time.monotonic()
    with pytest.raises(ConnectionError) as refused:
        await hub.start(connect_timeout_s=2)
    assert time.monotonic() - started < 10  # an error, not a hang
    assert expected.lower() in str(refused.value).lower(), str(refused.value)


async def test_edge_of_one_site_cannot_read_another_sites_sync_nor_speak_for_its_device(
    broker: GeneratedBroker, layout: Layout, tmp_path: Path
) -> None:
    hub = make_hub(broker, layout, tmp_path / "hub")
    await hub.start(connect_timeout_s=10)  # publishes both sites' retained vehicle lists
    edge = await asyncio.to_thread(TlsClient, broker.port, layout, NORTH_A)
    try:
        edge.client.subscribe([("anju/hillside/sync/+", 1), ("anju/lakeside/sync/+", 1)])
        assert edge.wait_for(lambda c: "anju/lakeside/sync/vehicles" in c.topics())
        # Speaking for hillside's edge-north (same device id, other community): a message the
        # hub would store if it arrived. Then one of its own, which must arrive.
        forged = heartbeat("edge-north", site="hillside")
        own = heartbeat("edge-north", site="lakeside")
        for site, msg in (("hillside", forged), ("lakeside", own)):
            topic = str(topics.event(site, "edge-north", "heartbeat"))
            await asyncio.to_thread(
                edge.client.publish(topic, msg.to_json(), qos=1).wait_for_publish, 5
            )
        deadline = time.monotonic() + 10
        while (await hub.counts()).get("events", 0) < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        counts = await hub.counts()
        assert counts["events"] == 1 and counts.get("rejected", 0) == 0
        assert not any(t.startswith("anju/hillside/") for t in edge.topics())
    finally:
        edge.close()
        await hub.stop()


def test_anonymous_and_certificate_without_password_are_refused(
    broker: GeneratedBroker, layout: Layout
) -> None:
    anonymous = TlsClient(broker.port, layout, None, cert_of=None)
    assert anonymous.reason is None  # not even TLS without a certificate from the CA
    cert_only = TlsClient(broker.port, layout, None, cert_of=NORTH_A)
    wrong = TlsClient(broker.port, layout, NORTH_A, "wrong")
    other_site_password = TlsClient(
        broker.port, layout, NORTH_A, layout.passwords["edge-north@hillside"]
    )
    for client in (anonymous, cert_only, wrong, other_site_password):
        assert client.refused, client.reason
        client.close()


async def test_a_client_claiming_the_hubs_client_id_does_not_take_its_session(
    broker: GeneratedBroker, layout: Layout, tmp_path: Path
) -> None:
    """Without use_username_as_clientid an edge connecting with client id ``anju-hub`` would
    kick the hub off and take over its session (and the events queued for it)."""
    hub = make_hub(broker, layout, tmp_path / "hub")
    await hub.start(connect_timeout_s=10)
    impostor = await asyncio.to_thread(TlsClient, broker.port, layout, NORTH_A, client_id=HUB)
    try:
        assert not impostor.refused
        await asyncio.sleep(1.0)
        assert hub.mqtt is not None and hub.mqtt.ready
        assert "Client anju-hub disconnected" not in broker.log()
        assert f"as {NORTH_A} (" in broker.log()  # the broker knows it by its username
        beat = heartbeat("edge-north", site="lakeside")
        await published(impostor, str(topics.event("lakeside", "edge-north", "heartbeat")), beat)
        deadline = time.monotonic() + 10
        while (await hub.counts()).get("events", 0) < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert (await hub.counts())["events"] == 1  # the hub still receives
    finally:
        impostor.close()
        await hub.stop()
