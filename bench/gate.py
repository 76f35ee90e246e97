"""Edge figures: gate latency (car on the loop -> barrier opens) and outbox throughput.

    python bench/gate.py [--cars 12] [--messages 2000]

Runs a real mosquitto (Debian package) on a free port, one edge agent on one simulated vehicle
gate with the real plate reader, and prints the figures. The simulator renders each car's scene
once (about 0.5 s on this CPU); that render sits inside the measured latency, as a real
camera's frame interval would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from edge.agent import EdgeAgent
from edge.bus import MqttBus
from edge.outbox import Outbox
from models import topics
from models.messages import Heartbeat, Kind, make_message
from models.site import EXAMPLE_SITE, SiteConfig, load_yaml
from recognition.lpr import PlateReader
from simulators.gate import SimulatedVehicleGate

RESIDENTS = ["浙HA1234", "浙HD12345", "浙HB5678", "浙HC2468", "浙HF13579", "浙AK8866"]


def _site() -> SiteConfig:
    data = load_yaml(EXAMPLE_SITE)
    data["site"]["id"] = "bench"
    for edge in data["edges"]:
        edge.pop("credentials", None)
    for gate in data["gates"]:
        gate["open_seconds"] = 0.5
    return SiteConfig.model_validate(data)


async def gate_latency(broker_url: str, cars: int, data_dir: Path) -> list[float]:
    gate = SimulatedVehicleGate("north-vehicle", drive_through_s=0.3, give_up_s=8, seed=7)
    agent = EdgeAgent(
        _site(),
        "edge-north",
        broker_url=broker_url,
        data_dir=data_dir,
        camera_factory=lambda g: gate.camera,
        relay_factory=lambda g: gate.relay,
        sensor_factory=lambda g: gate.sensor,
        reader=PlateReader(),
    )
    await agent.start()
    latencies: list[float] = []
    try:
        for i in range(cars):
            while gate.occupied:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.6)  # the loop gap between cars
            opened_before = len(gate.relay.opens())
            gate.arrive(RESIDENTS[i % len(RESIDENTS)])
            start = time.monotonic()
            while len(gate.relay.opens()) == opened_before and time.monotonic() - start < 8:
                await asyncio.sleep(0.01)
            if len(gate.relay.opens()) > opened_before:
                latencies.append(gate.relay.opens()[-1].at - start)
    finally:
        await agent.stop()
    return latencies


def render_times(cars: int) -> list[float]:
    """What the simulator alone spends on a car's first frame (inside the gate latency)."""
    from simulators.plates import render_vehicle_frame

    times = []
    for i in range(cars):
        start = time.monotonic()
        render_vehicle_frame(RESIDENTS[i % len(RESIDENTS)], seed=1000 + i, size=(1280, 720))
        times.append(time.monotonic() - start)
    return times


async def outbox_throughput(broker_url: str, messages: int, data_dir: Path) -> tuple[float, float]:
    outbox = Outbox(data_dir / "bench-outbox.db")
    bus = MqttBus("bench", "edge-bench", broker_url, outbox)
    topic = str(topics.event("bench", "edge-bench", "heartbeat"))
    payload = Heartbeat(uptime_s=1, outbox_pending=0)
    msgs = [
        make_message(Kind.HEARTBEAT, site="bench", device="edge-bench", payload=payload)
        for _ in range(messages)
    ]
    start = time.monotonic()
    for m in msgs:  # the broker is not connected yet: this measures the durable commit
        await asyncio.to_thread(outbox.add, topic, m.to_json())
    add_rate = messages / (time.monotonic() - start)
    start = time.monotonic()
    await bus.start()
    while outbox.pending_count() > 0:
        await asyncio.sleep(0.02)
    drain_rate = messages / (time.monotonic() - start)
    await bus.stop()
    outbox.close()
    return add_rate, drain_rate


async def main(cars: int, messages: int) -> None:
    from tests.mosquitto import MosquittoBroker

    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp))
        broker.start()
        try:
            up = await gate_latency(broker.url, cars, Path(tmp) / "up")
            broker.stop()
            down = await gate_latency(broker.url, cars, Path(tmp) / "down")
            broker.start()
            add_rate, drain_rate = await outbox_throughput(broker.url, messages, Path(tmp))
        finally:
            broker.stop()
    renders = render_times(cars)
    print(
        f"simulator render of a car's scene: median {statistics.median(renders):.2f} s"
        " (part of the latency below; a real camera has frames ready)"
    )
    for name, lat in (("broker up", up), ("broker down", down)):
        if lat:
            median = statistics.median(lat)
            print(
                f"gate latency, {name}: {len(lat)}/{cars} opened, median {median:.2f} s,"
                f" max {max(lat):.2f} s (car on loop -> relay open)"
            )
        else:
            print(f"gate latency, {name}: no car was let in")
    print(f"outbox: {add_rate:,.0f} rows/s committed one by one (synchronous=FULL, WAL)")
    print(f"outbox: {drain_rate:,.0f} msg/s drained to mosquitto with PUBACK marking")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cars", type=int, default=12)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.cars, args.messages))
