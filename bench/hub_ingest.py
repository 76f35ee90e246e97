"""Hub ingestion, end to end: events/s stored and publish -> stored latency.

Publishers are ``anju loadgen`` workers (real edge outboxes, one MqttBus per virtual device,
several processes) sending the realistic mix (plate reads with JPEG crops, decisions, slot
states, heartbeats) through a real mosquitto to the hub (paho thread -> validation ->
batched SQLite commits -> PUBACK after commit). For each offered rate:

  stored/s   events committed / (first event created -> last event committed)
  p50, p99   envelope created at the device (``ts``) -> its row committed at the hub

and, on the same broker with the same publishers, a bare paho subscriber (QoS 1, auto
acks, counts only): the ceiling the broker and publishers allow without any hub.

    python bench/hub_ingest.py                          # 1k, 5k and max
    python bench/hub_ingest.py --rates 1000 --duration 5
    python bench/hub_ingest.py --store-only             # Recorder alone, no MQTT
    python bench/hub_ingest.py --db postgresql://postgres@127.0.0.1:5432/anju_bench
                                   # the same on PostgreSQL (that database is re-created)

The machine is shared (2 cores): the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anju_cli.loadgen import LoadPlan, run_load, write_site  # noqa: E402
from hub.recorder import Recorded, Recorder  # noqa: E402
from hub.service import Hub  # noqa: E402
from hub.store import Store  # noqa: E402
from hub.validate import Accepted, Checked  # noqa: E402
from models.messages import Kind, make_message, utcnow  # noqa: E402
from models.site import load_site_config  # noqa: E402
from tests.mosquitto import MosquittoBroker  # noqa: E402

# The broker holds whatever the hub has not acknowledged yet: room for all of it (the test
# broker's 100,000 would drop the rest silently, docs/mqtt.md).
BROKER_CONFIG = "allow_anonymous true\nmax_queued_messages 10000000"


def proc_cpu(pid: int) -> float:
    """A process's CPU seconds (user + system) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


DB: str | None = None  # --db: None is SQLite in the run's directory


async def fresh_db() -> str | None:
    """The database for one run: SQLite in the run's temporary directory, or the
    PostgreSQL database named by --db dropped and created again (empty for every run)."""
    if DB is None or not DB.startswith("postgres"):
        return DB
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(DB)
    admin = url.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{url.database}"')
    finally:
        await conn.close()
    return DB


async def bench_store(n: int, batch: int) -> float:
    site = load_site_config()
    messages = [
        Accepted(make_message(Kind.HEARTBEAT, site=site.site.id, device=site.edges[0].id,
                              payload={"uptime_s": float(i), "outbox_pending": 0}),
                 "t", utcnow())
        for i in range(n)
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(tmp, await fresh_db())
        recorder = Recorder(store, [site])
        await recorder.load()
        started = time.perf_counter()
        for i in range(0, n, batch):
            await recorder.record(messages[i : i + batch])
        elapsed = time.perf_counter() - started
        await store.close()
    return n / elapsed


def mix_received(n: int, devices: int = 4) -> list[Any]:
    """``n`` loadgen-mix messages as the transport hands them over (no MQTT)."""
    import random

    from anju_cli.loadgen import MixGenerator, plate_crop_b64, plates
    from transport import Received

    rng = random.Random(1)
    crop, pool = plate_crop_b64(), plates(rng, 50)
    gens = [MixGenerator("loadtest", f"lg-{i:04d}", f"lg-{i:04d}-gate", crop, rng, pool)
            for i in range(devices)]  # fmt: skip
    out = []
    for i in range(n):
        topic, message, _ = gens[i % devices].next()
        out.append(Received(topic.encode(), message.to_json(), 1, False, i % 65535 + 1, 1))
    return out


async def bench_pipeline(n: int, batch: int) -> tuple[float, float]:
    """The hub's own path without MQTT: validation in a feeder thread (as paho's), the
    hand-over, batches, the Recorder and SQLite; returns (events/s, CPU us per event)."""
    from hub.batcher import BatchWriter
    from hub.ingest import Ingest
    from hub.validate import Validator

    site = load_site_config(write_site(Path(tempfile.mkdtemp()) / "site.yaml", 4))
    messages = mix_received(n)
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(tmp, await fresh_db())
        recorder = Recorder(store, [site])
        await recorder.load()
        done, count = asyncio.Event(), [0]

        async def handle(items: list[Checked]) -> None:
            await recorder.record(items)
            count[0] += len(items)
            if count[0] >= n:
                done.set()

        writer: BatchWriter[Checked] = BatchWriter(handle, max_rows=batch)
        writer.start()
        ingest = Ingest(Validator([site]), asyncio.get_running_loop(), writer.put_nowait)
        feeder = threading.Thread(target=lambda: [ingest.on_message(m) for m in messages])
        cpu, started = time.process_time(), time.perf_counter()
        feeder.start()
        await done.wait()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await writer.stop()
        await store.close()
    return n / elapsed, 1e6 * cpu / n


def bench_paho_drain(n: int) -> tuple[float, float]:
    """A bare paho subscriber (manual acks, counts only) draining ``n`` messages queued in
    its session: what paho itself costs per message; returns (msg/s, CPU us per msg)."""
    import paho.mqtt.client as mqtt

    messages = mix_received(n)
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp), extra_config=BROKER_CONFIG)
        broker.start()

        def subscriber() -> mqtt.Client:
            return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-drain",
                               clean_session=False, manual_ack=True)  # fmt: skip

        sub = subscriber()
        sub.connect("127.0.0.1", broker.port)
        sub.subscribe("anju/+/+/events/+", 1)
        sub.loop_start()
        time.sleep(0.3)
        sub.disconnect()
        sub.loop_stop()
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-drain-pub")
        pub.max_inflight_messages_set(1000)
        pub.max_queued_messages_set(0)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        infos = [pub.publish(m.raw_topic.decode(), m.payload, qos=1) for m in messages]
        for info in infos:
            info.wait_for_publish(120)
        pub.disconnect()
        pub.loop_stop()
        got, done = [0], threading.Event()

        def on_message(client: mqtt.Client, _u: Any, message: Any) -> None:
            client.ack(message.mid, message.qos)
            got[0] += 1
            if got[0] >= n:
                done.set()

        sub = subscriber()
        sub.on_message = on_message
        cpu, started = time.process_time(), time.perf_counter()
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        done.wait(300)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        sub.disconnect()
        sub.loop_stop()
        broker.stop()
    return got[0] / elapsed, 1e6 * cpu / n


def _plan(broker: MosquittoBroker, site_path: Path, data: Path, args: Any, rate: float) -> LoadPlan:
    return LoadPlan(
        broker=broker.url,
        site=load_site_config(site_path),
        devices=args.devices,
        rate=rate,
        duration_s=args.duration,
        data_dir=data,
        processes=args.processes,
        drain_timeout_s=120,
    )


async def bench_hub(args: Any, rate: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        broker = MosquittoBroker(Path(tmp), extra_config=BROKER_CONFIG)
        broker.start()
        site_path = write_site(Path(tmp) / "site.yaml", args.devices)
        hub = Hub([load_site_config(site_path)], broker_url=broker.url,
                  data_dir=Path(tmp) / "hub", batch_rows=args.batch,
                  db=await fresh_db())  # fmt: skip
        await hub.start()
        assert hub.recorder is not None
        latencies: list[float] = []
        committed: list[float] = []
        record = hub.recorder.record

        async def timed(batch: list[Checked]) -> Recorded:
            done = await record(batch)
            now = time.time()
            for item in done.new:
                if item.message.kind != Kind.DEVICE_STATUS:
                    latencies.append(now - item.message.ts.timestamp())
                    committed.append(now)
            return done

        hub.recorder.record = timed  # type: ignore[method-assign]
        thread_cpu = time.thread_time()
        process_cpu = time.process_time()
        assert broker.proc is not None
        broker_cpu = proc_cpu(broker.proc.pid)
        summary = await asyncio.to_thread(run_load, _plan(broker, site_path, Path(tmp) / "edges",
                                                          args, rate))  # fmt: skip
        expected = summary["produced"] - summary["dropped"]  # dropped heartbeats never come
        deadline = time.monotonic() + 120
        while len(latencies) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await hub.flush()
        hub_cpu = time.thread_time() - thread_cpu  # the hub's asyncio thread only
        process_cpu = time.process_time() - process_cpu  # the hub's threads (and this bench)
        broker_cpu = proc_cpu(broker.proc.pid) - broker_cpu
        counts = await hub.counts()
        await hub.stop()
        broker.stop()
    first_created = min(c - lat for c, lat in zip(committed, latencies, strict=True))
    span = max(committed) - first_created
    return {
        "rate": rate,
        "produced": summary["produced"],
        "dropped": summary["dropped"],
        "produced_per_s": summary["rate_produced"],
        "stored": len(latencies),
        "stored_per_s": len(latencies) / span,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "rejected": counts["rejected"],
        "hub_loop_cpu_s": hub_cpu,
        "cpu_us": {  # CPU per stored event, by stage
            "publishers": 1e6 * summary["cpu_seconds"] / max(len(latencies), 1),
            "broker": 1e6 * broker_cpu / max(len(latencies), 1),
            "hub": 1e6 * process_cpu / max(len(latencies), 1),
        },
    }


async def bench_backlog(args: Any, rate: float) -> dict[str, Any]:
    """The hub alone: the load waits in its persistent session while it is down; the clock
    runs from hub start to the last row committed (no publisher competes for the CPU)."""
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        broker = MosquittoBroker(Path(tmp), extra_config=BROKER_CONFIG)
        broker.start()
        site_path = write_site(Path(tmp) / "site.yaml", args.devices)
        site = load_site_config(site_path)
        db = await fresh_db()

        def make_hub() -> Hub:
            return Hub([site], broker_url=broker.url, data_dir=Path(tmp) / "hub",
                       batch_rows=args.batch, db=db)  # fmt: skip

        hub = make_hub()
        await hub.start()  # creates the persistent session and its subscriptions
        await hub.stop()
        summary = await asyncio.to_thread(
            run_load, _plan(broker, site_path, Path(tmp) / "edges", args, rate)
        )
        hub = make_hub()
        started = time.perf_counter()
        cpu = time.process_time()
        await hub.start()
        deadline = time.monotonic() + 600
        while (await hub.counts())["events"] < summary["produced"] - summary["dropped"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {await hub.counts()} of {summary['produced']} stored")
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        await hub.stop()
        broker.stop()
    return {"events": summary["produced"], "per_s": summary["produced"] / elapsed,
            "cpu_us_per_event": 1e6 * cpu / summary["produced"]}  # fmt: skip


def bench_bare(args: Any, rate: float) -> dict[str, Any]:
    """The same publishers against a bare paho subscriber (no validation, no storage)."""
    import paho.mqtt.client as mqtt

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        broker = MosquittoBroker(Path(tmp), extra_config=BROKER_CONFIG)
        broker.start()
        site_path = write_site(Path(tmp) / "site.yaml", args.devices)
        times: list[float] = []
        lock = threading.Lock()

        def on_message(_c: Any, _u: Any, _m: Any) -> None:
            with lock:
                times.append(time.time())

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bare-subscriber")
        client.on_message = on_message
        client.connect("127.0.0.1", broker.port)
        client.subscribe("anju/+/+/events/+", qos=1)
        client.loop_start()
        time.sleep(0.5)
        summary = run_load(_plan(broker, site_path, Path(tmp) / "edges", args, rate))
        deadline = time.monotonic() + 60
        while len(times) < summary["produced"] - summary["dropped"] and time.monotonic() < deadline:
            time.sleep(0.1)
        client.disconnect()
        client.loop_stop()
        broker.stop()
    span = (max(times) - min(times)) if len(times) > 1 else float("nan")
    return {"produced": summary["produced"], "received": len(times), "per_s": len(times) / span}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rates", default="1000,5000,max", help="offered events/s ('max': --max-rate; 'none')"
    )
    parser.add_argument("--max-rate", type=float, default=10000, help="what max offers")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    parser.add_argument("--devices", type=int, default=24)
    parser.add_argument("--processes", type=int, default=3, help="publisher processes")
    parser.add_argument("--batch", type=int, default=100, help="rows per commit at most")
    parser.add_argument("--tmp", default=None, help="where broker, hub and outboxes live")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare subscriber")
    parser.add_argument("--no-backlog", action="store_true", help="skip the hub-alone drain")
    parser.add_argument("--store-only", action="store_true")
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in --tmp)")
    args = parser.parse_args()
    global DB
    DB = args.db
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores, shared)")
    rate = asyncio.run(bench_store(20000, args.batch))
    print(f"store only      : {rate:9,.0f} heartbeats/s (Recorder, batches of {args.batch})")
    if args.store_only:
        return
    rate, cpu_us = asyncio.run(bench_pipeline(40000, args.batch))
    print(f"hub pipeline    : {rate:9,.0f} events/s without MQTT ({cpu_us:.0f} us CPU/event:"
          " validation, hand-over, batches, Recorder, SQLite; the loadgen mix)")  # fmt: skip
    rate, cpu_us = bench_paho_drain(40000)
    print(f"bare paho drain : {rate:9,.0f} msg/s ({cpu_us:.0f} us CPU/msg: a paho subscriber"
          " with manual acks, nothing else, draining its queued session)")  # fmt: skip
    for text in [] if args.rates == "none" else args.rates.split(","):
        offered = args.max_rate if text == "max" else float(text)
        r = asyncio.run(bench_hub(args, offered))
        label = "max" if text == "max" else f"{offered:,.0f}/s"
        print(f"hub at {label:>8}: {r['stored_per_s']:9,.0f} events/s stored "
              f"(produced {r['produced_per_s']:,.0f}/s by {args.processes} processes, "
              f"{r['stored']}/{r['produced']} stored, {r['dropped']} heartbeats dropped by the"
              f" outbox bound), p50 {r['p50_ms']:.0f} ms, "
              f"p99 {r['p99_ms']:.0f} ms, hub loop CPU {r['hub_loop_cpu_s']:.1f} s, "
              f"rejected {r['rejected']}")  # fmt: skip
        cpu = r["cpu_us"]
        print(f"    CPU per event: publishers {cpu['publishers']:.0f} us, broker "
              f"{cpu['broker']:.0f} us, hub {cpu['hub']:.0f} us (hub asyncio thread "
              f"{r['hub_loop_cpu_s']:.1f} s in all)")  # fmt: skip
        if text == "max" and not args.no_bare:
            bare = bench_bare(args, offered)
            print(f"bare paho sub   : {bare['per_s']:9,.0f} msg/s received "
                  f"({bare['received']}/{bare['produced']}, same publishers and broker)"
            )  # fmt: skip
    if not args.no_backlog:
        r = asyncio.run(bench_backlog(args, 10000))
        print(f"hub alone       : {r['per_s']:9,.0f} events/s ({r['events']} queued in its session"
              f" while down; start to last commit), {r['cpu_us_per_event']:.0f} us CPU/event"
              " (the hub process, all threads)")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
