"""Hub ingestion throughput: messages per second validated, de-duplicated and committed.

Three figures:
  1. store only: Recorder.record() on batches of already-validated messages (no MQTT);
  2. end to end: a publisher *process* sends N QoS 1 messages through a real mosquitto
     to the hub (paho thread -> validation -> asyncio queue -> batched SQLite commits ->
     PUBACK after commit); the clock runs from the first publish to the N-th stored row;
  3. backlog drain: the same N messages wait in the hub's persistent session while it is
     down; the clock runs from hub start to the N-th stored row (the hub alone).

    python bench/hub_ingest.py --messages 20000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.recorder import Recorder  # noqa: E402
from hub.service import Hub  # noqa: E402
from hub.store import Store  # noqa: E402
from hub.validate import Accepted  # noqa: E402
from models import topics  # noqa: E402
from models.messages import Kind, make_message, utcnow  # noqa: E402
from models.site import load_site_config  # noqa: E402
from tests.mosquitto import MosquittoBroker  # noqa: E402

SITE, DEVICE, GATE = "lakeside", "edge-north", "north-vehicle"


def sample_messages(n: int) -> list[tuple[str, bytes]]:
    """A realistic mix: plate reads, gate decisions, heartbeats (about 200-300 bytes each)."""
    out: list[tuple[str, bytes]] = []
    for i in range(n):
        match i % 3:
            case 0:
                kind, payload = (
                    Kind.PLATE_READ,
                    {"gate": GATE, "plate": "浙HA1234", "color": "blue", "confidence": 0.93,
                     "frames": 4, "box": [512, 430, 180, 56]},
                )  # fmt: skip
            case 1:
                kind, payload = (
                    Kind.GATE_DECISION,
                    {"gate": GATE, "credential": "plate", "subject": "浙HA1234",
                     "decision": "open", "reason": "resident", "list_version": 1},
                )  # fmt: skip
            case _:
                kind, payload = Kind.HEARTBEAT, {"uptime_s": float(i), "outbox_pending": 0}
        msg = make_message(kind, site=SITE, device=DEVICE, payload=payload)
        out.append((str(topics.event(SITE, DEVICE, kind.value)), msg.to_json()))
    return out


async def bench_store(n: int, batch: int) -> float:
    site = load_site_config()
    messages = [
        Accepted(make_message(Kind.HEARTBEAT, site=SITE, device=DEVICE,
                              payload={"uptime_s": float(i), "outbox_pending": 0}),
                 "t", utcnow())
        for i in range(n)
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(tmp)
        recorder = Recorder(store, [site])
        await recorder.load()
        started = time.perf_counter()
        for i in range(0, n, batch):
            await recorder.record(messages[i : i + batch])
        elapsed = time.perf_counter() - started
        assert (await store.counts())["events"] == n
        await store.close()
    return n / elapsed


def publisher(port: int, n: int, ready, go, result) -> None:
    import paho.mqtt.client as mqtt

    messages = sample_messages(n)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    ready.set()
    go.wait()
    started = time.time()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(120)
    result.put((started, time.time()))
    client.disconnect()
    client.loop_stop()


async def bench_end_to_end(n: int, batch: int) -> tuple[float, float, dict[str, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp))
        broker.start()
        hub = Hub([load_site_config()], broker_url=broker.url, data_dir=Path(tmp) / "hub",
                  batch_rows=batch)  # fmt: skip
        await hub.start()
        ctx = mp.get_context("spawn")
        ready, go, result = ctx.Event(), ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=publisher, args=(broker.port, n, ready, go, result))
        proc.start()
        await asyncio.to_thread(ready.wait, 120)
        go.set()
        while (await hub.counts())["events"] < n:
            await asyncio.sleep(0.1)  # counting scans the table: do not steal the hub's CPU
        stored_at = time.time()
        started, published_at = await asyncio.to_thread(result.get, True, 120)
        await asyncio.to_thread(proc.join, 30)
        counts = await hub.counts()
        await hub.stop()
        broker.stop()
    return n / (stored_at - started), n / (published_at - started), counts


async def bench_backlog(n: int, batch: int) -> float:
    """The hub alone: N messages wait in its persistent session; time the drain after start."""
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp))
        broker.start()
        site = load_site_config()
        hub = Hub([site], broker_url=broker.url, data_dir=Path(tmp) / "hub", batch_rows=batch)
        await hub.start()  # creates the persistent session and its subscriptions
        await hub.stop()
        ctx = mp.get_context("spawn")
        ready, go, result = ctx.Event(), ctx.Event(), ctx.Queue()
        go.set()
        proc = ctx.Process(target=publisher, args=(broker.port, n, ready, go, result))
        proc.start()
        await asyncio.to_thread(result.get, True, 300)
        await asyncio.to_thread(proc.join, 30)
        hub = Hub([site], broker_url=broker.url, data_dir=Path(tmp) / "hub", batch_rows=batch)
        started = time.perf_counter()
        await hub.start()
        while (await hub.counts())["events"] < n:
            await asyncio.sleep(0.1)  # counting scans the table: do not steal the hub's CPU
        elapsed = time.perf_counter() - started
        await hub.stop()
        broker.stop()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=100, help="rows per commit at most")
    args = parser.parse_args()
    rate = asyncio.run(bench_store(args.messages, args.batch))
    print(
        f"store only   : {rate:9,.0f} msg/s  ({args.messages} heartbeats, batches of {args.batch})"
    )
    stored, published, counts = asyncio.run(bench_end_to_end(args.messages, args.batch))
    print(f"end to end   : {stored:9,.0f} msg/s stored  ({args.messages} mixed QoS 1 messages"
          f" through mosquitto; publisher alone {published:,.0f} msg/s)")  # fmt: skip
    print(f"hub counts   : events={counts['events']} rejected={counts['rejected']}"
          f" duplicates={counts['duplicates']} gate_opens={counts['gate_opens']}")  # fmt: skip
    drained = asyncio.run(bench_backlog(args.messages, args.batch))
    print(f"backlog drain: {drained:9,.0f} msg/s  ({args.messages} messages queued in the hub's"
          " persistent session while it was down; hub start to last row stored)")  # fmt: skip


if __name__ == "__main__":
    main()
