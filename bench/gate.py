"""Edge figures: gate latency (car on the loop -> barrier opens) and outbox throughput.

    python bench/gate.py [--cars 12] [--messages 2000] [--difficulty hard]

Runs a real mosquitto (Debian package) on a free port, one edge agent on one simulated vehicle
gate (5 frames/s, the example site's camera) with the real plate reader, and prints:

- first legible frame -> relay command, p50 and p95: from the moment the camera delivered the
  first frame showing the car's plate to the barrier's open command (reading, voting,
  deciding; the simulator's render is before it, not in it);
- loop -> open: from the loop reporting the car to the open command, median and p95, as
  measured (the simulator renders each car's scene once, on the first frame, inside it) and
  without that render (a real camera has the frame ready: its frame interval still counts);
- the simulator's render time per car, measured on the same renders.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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


@dataclass
class CarTiming:
    """One car's times (time.monotonic) at the simulated gate."""

    on_loop: float
    render_s: float  # the simulator's render of this car's scene
    first_frame: float  # the camera returned the first frame showing the plate
    opened: float  # the relay's open command


@dataclass
class Probes:
    """Render and camera timestamps, taken around the simulator's own renderer and camera."""

    difficulty: str = "easy"
    renders: list[tuple[float, float]] = field(default_factory=list)  # (start, end)
    frames: list[float] = field(default_factory=list)  # camera read returned

    def renderer(self, plates: Any, *, seed: int, size: tuple[int, int]) -> tuple[Any, Any]:
        from simulators.plates import render_vehicle_frame

        start = time.monotonic()
        out = render_vehicle_frame(plates, seed=seed, size=size, difficulty=self.difficulty)
        self.renders.append((start, time.monotonic()))
        return out


class TimedCamera:
    """The simulator's camera, noting when each frame was handed over."""

    def __init__(self, camera: Any, probes: Probes) -> None:
        self.camera, self.probes = camera, probes

    def read(self) -> Any:
        frame = self.camera.read()
        self.probes.frames.append(time.monotonic())
        return frame

    def close(self) -> None:
        self.camera.close()


async def gate_latency(
    broker_url: str, cars: int, data_dir: Path, difficulty: str = "easy"
) -> list[CarTiming]:
    probes = Probes(difficulty)
    gate = SimulatedVehicleGate(
        "north-vehicle", drive_through_s=0.3, give_up_s=8, seed=7, renderer=probes.renderer
    )
    camera = TimedCamera(gate.camera, probes)
    reader = PlateReader()
    reader.read(np.zeros((720, 1280, 3), np.uint8))  # loaded and warm, as on a running gate
    agent = EdgeAgent(
        _site(),
        "edge-north",
        broker_url=broker_url,
        data_dir=data_dir,
        camera_factory=lambda g: camera,
        relay_factory=lambda g: gate.relay,
        sensor_factory=lambda g: gate.sensor,
        reader=reader,
    )
    await agent.start()
    timings: list[CarTiming] = []
    try:
        for i in range(cars):
            while gate.occupied:
                await asyncio.sleep(0.05)
            await asyncio.sleep(gate.loop_gap_s + 0.1)  # the loop drops between cars
            opened_before = len(gate.relay.opens())
            renders_before = len(probes.renders)
            gate.arrive(RESIDENTS[i % len(RESIDENTS)])
            start = time.monotonic()
            while len(gate.relay.opens()) == opened_before and time.monotonic() - start < 8:
                await asyncio.sleep(0.005)
            if len(gate.relay.opens()) == opened_before or len(probes.renders) == renders_before:
                continue
            opened = gate.relay.opens()[-1].at
            r0, r1 = probes.renders[renders_before]
            first = min(t for t in probes.frames if t >= r1)
            while gate.occupied:
                await asyncio.sleep(0.05)
            on_loop = gate.history[-1].on_loop_at
            timings.append(CarTiming(on_loop, r1 - r0, first, opened))
    finally:
        await agent.stop()
    return timings


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def report(name: str, cars: int, timings: list[CarTiming]) -> None:
    if not timings:
        print(f"gate, {name}: no car was let in")
        return
    react = [t.opened - t.first_frame for t in timings]
    loop = [t.opened - t.on_loop for t in timings]
    net = [t.opened - t.on_loop - t.render_s for t in timings]
    render = [t.render_s for t in timings]
    print(f"gate, {name}: {len(timings)}/{cars} opened")
    print(
        f"  first legible frame -> relay command  p50 {_p(react, 50):.0f} ms,"
        f" p95 {_p(react, 95):.0f} ms, max {max(react) * 1000:.0f} ms"
    )
    print(
        f"  loop -> open, as measured             median {_p(loop, 50):.0f} ms,"
        f" p95 {_p(loop, 95):.0f} ms (includes the simulator's render)"
    )
    print(
        f"  loop -> open, without the render      median {_p(net, 50):.0f} ms,"
        f" p95 {_p(net, 95):.0f} ms"
    )
    print(f"  simulator render per car              median {_p(render, 50):.0f} ms")


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


async def main(cars: int, messages: int, difficulty: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' broker runner
    from tests.mosquitto import MosquittoBroker

    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp))
        broker.start()
        try:
            up = await gate_latency(broker.url, cars, Path(tmp) / "up", difficulty)
            broker.stop()
            down = await gate_latency(broker.url, cars, Path(tmp) / "down", difficulty)
            broker.start()
            add_rate, drain_rate = await outbox_throughput(broker.url, messages, Path(tmp))
        finally:
            broker.stop()
    print(f"scenes: {difficulty} (simulators/plates.py), camera 5 frames/s")
    report("broker up", cars, up)
    report("broker down", cars, down)
    print(f"outbox: {add_rate:,.0f} rows/s committed one by one (synchronous=FULL, WAL)")
    print(f"outbox: {drain_rate:,.0f} msg/s drained to mosquitto with PUBACK marking")
    print(
        f"load average at the start {load0:.1f}, at the end {os.getloadavg()[0]:.1f}"
        f" on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cars", type=int, default=12)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--difficulty", choices=("easy", "hard"), default="easy")
    args = parser.parse_args()
    asyncio.run(main(args.cars, args.messages, args.difficulty))
