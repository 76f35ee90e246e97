"""Console figures on this machine: event-to-screen latency over the live stream, page and
API response times, and the cost of one login (argon2id).

    python bench/console.py [--events 100]

Starts a private mosquitto, a hub and the console; a simulated edge publishes plate reads
(QoS 1) and an SSE client measures publish -> delivery. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ helpers: a checkout only


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _line(name: str, values: list[float], unit: str = "ms") -> str:
    return (
        f"{name}: n={len(values)} p50={_pct(values, 50):.1f} p95={_pct(values, 95):.1f} "
        f"max={max(values):.1f} {unit}"
    )


async def main(events: int, poll_s: float) -> None:
    from anju_cli.demo.users import ensure_demo_users
    from hub.console import ConsoleServer, create_app
    from hub.service import Hub
    from models.site import load_site_config
    from tests.browser.support import SimEdge
    from tests.mosquitto import MosquittoBroker

    with tempfile.TemporaryDirectory() as tmp:
        broker_dir = Path(tmp) / "broker"
        broker_dir.mkdir()
        broker = MosquittoBroker(broker_dir)
        broker.start()
        site = load_site_config()
        hub = Hub([site], broker_url=broker.url, data_dir=Path(tmp) / "hub")
        await hub.start()
        await ensure_demo_users(hub.store, [site])
        server = ConsoleServer(create_app(hub, [site], secure_cookies=False, poll_s=poll_s),
                               "127.0.0.1", 0)  # fmt: skip
        await server.start()
        edge = SimEdge(broker.url, "bench-edge")
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
                logins = []
                for _ in range(5):
                    c.cookies.clear()
                    form = await c.get("/login")
                    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
                    t = time.perf_counter()
                    await c.post("/login", data={"username": "guard", "csrf_token": csrf,
                                                 "password": "guard-demo-2026"})  # fmt: skip
                    logins.append((time.perf_counter() - t) * 1000)
                sent: dict[str, float] = {}
                latencies: list[float] = []
                done = asyncio.Event()

                async def listen() -> None:
                    async with c.stream("GET", "/api/events/stream") as r:
                        buffer = ""
                        async for chunk in r.aiter_text():
                            buffer += chunk
                            *blocks, buffer = buffer.split("\n\n")
                            for block in blocks:
                                for line in block.splitlines():
                                    if line.startswith("data: ") and "event: event" in block:
                                        ev = json.loads(line[6:])
                                        if ev["id"] in sent:
                                            latencies.append(
                                                (time.perf_counter() - sent[ev["id"]]) * 1000
                                            )
                            if len(latencies) >= events:
                                done.set()
                                return

                task = asyncio.create_task(listen())
                await asyncio.sleep(0.5)
                plates = ["浙HA1234", "浙HB5678", "浙HC2468", "沪B2Q789"]
                for i in range(events):
                    t = time.perf_counter()
                    event_id = await asyncio.to_thread(edge.plate_read, "lakeside", plates[i % 4])
                    sent[event_id] = t
                    await asyncio.sleep(0.05)
                await asyncio.wait_for(done.wait(), 60)
                task.cancel()
                pages: dict[str, list[float]] = {}
                for path in ["/live", "/carpark", "/violations", "/lists", "/api/events?limit=60"]:
                    for _ in range(10):
                        t = time.perf_counter()
                        r = await c.get(path)
                        assert r.status_code == 200, (path, r.status_code)
                        pages.setdefault(path, []).append((time.perf_counter() - t) * 1000)
            print(f"machine: 2 cores shared with other work; poll interval {poll_s} s")
            print(_line("login (argon2id verify + session)", logins))
            print(_line("plate read published -> on the live stream", latencies))
            for path, values in pages.items():
                print(_line(f"GET {path}", values))
            print(f"events stored: {(await hub.counts())['events']}")
        finally:
            edge.close()
            await server.stop()
            await hub.stop()
            broker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--poll", type=float, default=0.5, help="stream poll interval, s")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.poll))
