"""Pedestrian gate latency: from a person in view (frames available) to the door relay, and
per-passage outcomes, through the real pipeline (dlib detection, liveness, matching) on
simulated gate frames. The bus records instead of publishing (no broker in the loop).

    python bench/pedestrian_gate.py [--passages 6]

Prints, per kind of passage, the median and max time to the decision and how many opened.
Rendering the frames happens before the clock starts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anju_cli.demo.pedestrians import DEMO_PEOPLE, FACES_DIR, STRANGER, _encodings
from edge.context import EdgeContext
from edge.gate_control import GateControl
from edge.pipeline import GateDevices, PipelineDeps
from edge.vehicle_gate.decisions import LocalLists
from models.face_bundle import (
    KEY_ENV,
    FaceCipher,
    bundle_payload,
    generate_key,
    parse_key,
    pass_key,
    seal_bundle,
    seal_directory,
)
from models.messages import EnvelopeBase, Kind, make_message
from models.site import load_site_config
from simulators.pedestrian_gate import SimulatedPedestrianGate


class _Bus:
    def __init__(self) -> None:
        self.handlers: list[Any] = []

    connected = True

    async def publish(self, topic: str, message: EnvelopeBase, **_: Any) -> int:
        return 0

    def on_command(self, handler: Any) -> None:
        pass

    def on_sync(self, handler: Any) -> None:
        self.handlers.append(handler)

    async def pending(self) -> int:
        return 0


async def main(passages: int) -> None:
    from edge.pedestrian_gate.pipeline import PedestrianGatePipeline

    text = generate_key()
    os.environ[KEY_ENV] = text
    key = parse_key(text)
    site = load_site_config()
    gate = next(g for g in site.gates if g.type == "pedestrian")
    bus = _Bus()
    ctx = EdgeContext(
        site.site.id, "edge-east", bus, lambda: LocalLists.from_site_vehicles(site.vehicles)
    )
    sim = SimulatedPedestrianGate(gate.id, size=(gate.camera.width, gate.camera.height), seed=11)
    devices = GateDevices(sim.camera, sim.sensor, GateControl(gate.id, sim.relay, ctx))
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = PedestrianGatePipeline(gate, devices, ctx, PipelineDeps(data_dir=Path(tmp)))
        cipher = FaceCipher(key)
        persons = [
            {"id": p.id, "role": p.role, "encodings": [e.tolist() for e in _encodings(p.enrol)]}
            for p in DEMO_PEOPLE
        ]
        sealed = seal_bundle(cipher, {"site": site.site.id, "version": 1, "persons": persons})
        directory = seal_directory(
            cipher, pass_key(key), site=site.site.id, version=1, pins={}, cards={}
        )
        message = make_message(
            Kind.FACE_BUNDLE,
            site=site.site.id,
            device="hub",
            payload=bundle_payload(sealed, directory),
        )
        for handler in bus.handlers:
            await handler(message)
        task = asyncio.create_task(pipeline.run())
        resident = DEMO_PEOPLE[0].walks
        kinds = {
            "resident live": (resident, True),
            "resident photo": (resident, False),
            "stranger live": (STRANGER, True),
        }
        for name, (photo, live) in kinds.items():
            times, opened, undecided = [], 0, 0
            for _ in range(passages):
                sim.frames_per_passage = 15
                frames = await asyncio.to_thread(sim.render, FACES_DIR / photo, live)
                before, opens = pipeline.decisions, len(sim.relay.opens())
                await asyncio.to_thread(sim.step_up, frames)
                started = time.perf_counter()
                left = None
                while pipeline.decisions == before:
                    if task.done():
                        raise RuntimeError("the pipeline stopped") from task.exception()
                    if not sim.in_view():
                        left = left or time.perf_counter()
                        if time.perf_counter() - left > 1.0:  # gone, no face ever found
                            break
                    await asyncio.sleep(0.005)
                if pipeline.decisions == before:
                    undecided += 1
                    continue
                times.append(time.perf_counter() - started)
                opened += len(sim.relay.opens()) > opens
            stats = (
                f"decision median {statistics.median(times) * 1000:6.0f} ms  "
                f"max {max(times) * 1000:6.0f} ms"
                if times
                else "no decisions"
            )
            print(
                f"{name:15s} passages {passages}  opened {opened}  "
                f"refused {len(times) - opened}  no face found {undecided}  {stats}"
            )
        task.cancel()
        await devices.control.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=6)
    import faulthandler

    faulthandler.dump_traceback_later(float(os.environ.get("BENCH_DUMP_S", "0")) or 1e9)
    asyncio.run(main(parser.parse_args().passages))
