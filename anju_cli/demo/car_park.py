"""The demo's car park: a simulated camera over the site's slot polygons, the car-park edge
(``EdgeAgent`` + ``edge.car_park.service``) and a story of cars arriving, leaving and one
parking in the fire lane (or the no-parking strip) long enough to become a violation.

    task = await start_car_park(demo)      # after the hub and the gate edges started

Time scale: the fire-lane/no-parking limits of the site config are minutes (2 and 10);
the demo shortens them with ``demo_parking_site(site, max_minutes=0.5)`` (a demo-only
override of the zones' ``max_minutes``), which must be applied to the site the *hub* is
built with, i.e. before ``Demo`` is created. ``start_car_park`` only reads the limit to
time its story.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from edge.car_park.service import attach_capacity, carpark_service
from edge.car_park.slots import DebounceConfig
from models.site import CarPark, SiteConfig, ZoneKind
from simulators.carpark import CarParkRenderer, CarSpec, random_car

log = logging.getLogger(__name__)

DEMO_MAX_MINUTES = 0.5  # fire lane / no parking in the demo: a violation after 30 s
TIMED = (ZoneKind.FIRE_LANE, ZoneKind.NO_PARKING, ZoneKind.UNMARKED)
ORDINARY = (ZoneKind.GENERAL, ZoneKind.VISITOR, ZoneKind.RESERVED)


def demo_parking_site(site: SiteConfig, max_minutes: float = DEMO_MAX_MINUTES) -> SiteConfig:
    """The site with every fire-lane / no-parking zone limited to ``max_minutes`` (demo and
    tests only: the real limits are the config's)."""
    if site.car_park is None:
        return site
    zones = [
        z.model_copy(update={"max_minutes": max_minutes}) if z.kind in TIMED else z
        for z in site.car_park.zones
    ]
    return site.model_copy(update={"car_park": site.car_park.model_copy(update={"zones": zones})})


def timed_limit_s(car_park: CarPark) -> float:
    limits = [60.0 * (z.max_minutes or 2.0) for z in car_park.zones if z.kind in TIMED]
    return min(limits) if limits else 120.0


class SimCarParkCamera:
    """A ``Camera`` rendering the car park as it is now; park and move cars at will."""

    def __init__(self, car_park: CarPark, *, seed: int = 0, walkers: int = 2) -> None:
        size = (car_park.camera.width, car_park.camera.height) if car_park.camera else (1280, 720)
        self.renderer = CarParkRenderer(car_park.slots, size, seed=seed)
        self.occupancy: dict[str, CarSpec | None] = {s.id: None for s in car_park.slots}
        self.walkers = walkers
        self.frames = 0
        self._t0 = time.monotonic()
        self._lock = threading.Lock()

    def park(self, slot: str, car: CarSpec) -> None:
        with self._lock:
            self.occupancy[slot] = car

    def leave(self, slot: str) -> None:
        with self._lock:
            self.occupancy[slot] = None

    def empty_frame(self) -> np.ndarray:
        """The empty car park, to calibrate the detector's background."""
        return self.renderer.render({}, t=0.0).image

    def read(self) -> np.ndarray | None:
        with self._lock:
            occupancy = dict(self.occupancy)
        t = time.monotonic() - self._t0
        self.frames += 1
        return self.renderer.render(occupancy, t=t, walkers=self.walkers).image

    def close(self) -> None:
        pass


def _no_gate(gate: Any) -> Any:
    raise RuntimeError(f"the car-park edge has no gate ({gate.id})")


async def start_car_park_edge(
    site: SiteConfig,
    broker_url: str,
    data_dir: Any,
    *,
    seed: int = 1,
    debounce: DebounceConfig = DebounceConfig(on_after_s=4.0, off_after_s=4.0),
    frame_interval_s: float | None = None,
    snapshot_every_s: float = 15.0,
    tls: Any = None,
    hub_keys: Sequence[Any] = (),
) -> tuple[Any, SimCarParkCamera, Any]:
    """Start the ``car_park: true`` edge on a simulated camera: (agent, camera, factory)."""
    from edge.agent import EdgeAgent

    edge = next((e for e in site.edges if e.car_park), None)
    if edge is None or site.car_park is None:
        raise ValueError(f"site {site.site.id} has no car-park edge")
    camera = SimCarParkCamera(site.car_park, seed=seed)
    factory = carpark_service(
        site,
        camera=camera,
        calibration_frame=camera.empty_frame(),
        debounce=debounce,
        frame_interval_s=frame_interval_s,
        snapshot_every_s=snapshot_every_s,
    )
    agent = EdgeAgent(
        site,
        edge.id,
        broker_url=broker_url,
        tls=tls,
        data_dir=data_dir,
        camera_factory=_no_gate,
        relay_factory=_no_gate,
        sensor_factory=_no_gate,
        services=[factory],
        hub_keys=hub_keys,
    )
    await agent.start()
    return agent, camera, factory


async def start_car_park(demo: Any, **options: Any) -> asyncio.Task[None]:
    """Start the car-park edge for ``demo`` (its agent joins ``demo.agents``, so
    ``demo.stop()`` drains and stops it), give the running vehicle-gate edges the
    car-park capacity check, and return the task playing the car-park story."""
    site: SiteConfig = demo.site
    gate_agents = list(demo.agents)
    agent, camera, _ = await start_car_park_edge(
        site,
        demo.broker_url,
        demo.options.data / "edges" / next(e.id for e in site.edges if e.car_park),
        seed=demo.options.seed,
        tls=demo.options.tls,
        hub_keys=demo.hub_keys(),
        **options,
    )
    demo.agents.append(agent)
    demo.car_park_camera = camera
    for gate_agent in gate_agents:
        if gate_agent.gates:
            attach_capacity(gate_agent)
    assert site.car_park is not None
    return asyncio.create_task(
        car_park_story(camera, site.car_park, seed=demo.options.seed), name="car-park"
    )


async def car_park_story(
    camera: SimCarParkCamera,
    car_park: CarPark,
    *,
    seed: int = 1,
    tick_s: float = 5.0,
    fill: float = 0.5,
    first_offence_s: float = 20.0,
    beyond_limit_s: float = 60.0,
) -> None:
    """Cars come and go in ordinary bays; every few minutes one stands in a fire-lane or
    no-parking strip for its limit plus ``beyond_limit_s``, then leaves."""
    rng = np.random.default_rng(seed)
    kinds = {z.id: z.kind for z in car_park.zones}
    ordinary = [s.id for s in car_park.slots if kinds[s.zone] in ORDINARY]
    restricted = [s.id for s in car_park.slots if kinds[s.zone] in TIMED]
    for sid in ordinary:
        if rng.random() < fill:
            camera.park(sid, random_car(rng))
    limit = timed_limit_s(car_park)
    offender = itertools.cycle(restricted)
    next_offence = time.monotonic() + first_offence_s
    offence: tuple[str, float] | None = None
    while True:
        await asyncio.sleep(tick_s)
        now = time.monotonic()
        # one car arrives or leaves an ordinary bay now and then
        if rng.random() < 0.3:
            sid = str(rng.choice(ordinary))
            if camera.occupancy[sid] is None:
                camera.park(sid, random_car(rng))
            else:
                camera.leave(sid)
        if offence is None and restricted and now >= next_offence:
            slot = next(offender)
            camera.park(slot, replace(random_car(rng), plate=None))
            offence = (slot, now + limit + beyond_limit_s)
            log.info("car park: a car stops in %s", slot)
        elif offence is not None and now >= offence[1]:
            camera.leave(offence[0])
            log.info("car park: the car in %s leaves", offence[0])
            offence = None
            next_offence = now + max(60.0, 2 * limit)


def fill_slots(camera: SimCarParkCamera, slots: Sequence[str], *, seed: int = 7) -> None:
    """Park a car in each of ``slots`` (tests: a full car park)."""
    rng = np.random.default_rng(seed)
    for sid in slots:
        camera.park(sid, random_car(rng))


async def stop_task(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
