"""Manual acks on a real mosquitto: an unacknowledged QoS 1 message is resent only after a
reconnect of the persistent session, and an ack from before the reconnect is not sent."""

from __future__ import annotations

import asyncio

from tests.mosquitto import MosquittoBroker
from tests.support import PahoClient
from transport import BrokerAddress, MqttClient, Received


async def _received(queue: asyncio.Queue[Received], timeout: float = 5.0) -> Received:
    return await asyncio.wait_for(queue.get(), timeout)


async def test_unacked_messages_come_again_only_after_a_reconnect(
    mosquitto: MosquittoBroker,
) -> None:
    client = MqttClient(
        BrokerAddress.parse(mosquitto.url), client_id="manual-ack-test", manual_ack=True,
        subscriptions=[("t/ack/#", 1)],
    )  # fmt: skip
    queue: asyncio.Queue[Received] = asyncio.Queue()
    client.on_message = queue.put_nowait
    await client.start(timeout_s=5)
    pub = await asyncio.to_thread(PahoClient, mosquitto.port, "manual-ack-pub")
    try:
        for i in range(3):
            pub.publish("t/ack/x", f"m{i}".encode()).wait_for_publish(5)
        first = [await _received(queue) for _ in range(3)]
        assert [m.payload for m in first] == [b"m0", b"m1", b"m2"]
        assert client.ack(first[0].mid, first[0].qos, first[0].epoch)  # only m0 is acked
        await asyncio.sleep(0.5)
        assert queue.empty()  # nothing is resent within the connection

        client.reconnect()
        again = [await _received(queue) for _ in range(2)]
        assert [m.payload for m in again] == [b"m1", b"m2"]  # the unacked ones, in order
        assert all(m.epoch == first[0].epoch + 1 for m in again)
        assert not client.ack(first[1].mid, first[1].qos, first[1].epoch)  # a stale ack
        for m in again:
            assert client.ack(m.mid, m.qos, m.epoch)
        await asyncio.sleep(0.3)
        client.reconnect()
        await asyncio.sleep(1.5)
        assert client.ready and queue.empty()  # all acknowledged: nothing comes again
    finally:
        pub.close()
        await client.stop()
