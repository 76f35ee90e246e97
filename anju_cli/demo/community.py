"""`anju demo` / `anju sim`: a whole simulated community on one machine.

Starts (unless given a broker) an embedded MQTT broker, the hub, one edge agent
per edge of the site on simulated hardware, and a scenario loop of arriving
cars. At the end the edges drain their outboxes, the hub stores what it
received, and the summary is read back from the hub's database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from anju_cli.embedded_broker import EmbeddedBroker
from models.site import EXAMPLE_SITE, SiteConfig, load_site_config
from simulators.scenario import ScenarioRunner, plan_arrivals

if TYPE_CHECKING:
    from edge.agent import EdgeAgent

log = logging.getLogger(__name__)
console = Console(stderr=True, soft_wrap=True)

DRAIN_TIMEOUT_S = 20.0
SETTLE_S = 0.3  # time for an edge's SUBACKs after its CONNACK (embedded broker only)


@dataclass
class DemoOptions:
    site: Path = EXAMPLE_SITE
    broker: str | None = None
    data: Path = Path("data/demo")
    duration: float | None = None
    seed: int = 1
    with_hub: bool = True
    arrivals: int = 10_000
    interval_s: float = 1.5
    anonymous: bool = False  # connect edges without credentials (always so on the embedded broker)
    console_port: int | None = None  # serve the web console on 127.0.0.1:PORT (0: any free port)
    car_park: bool = True  # run the car-park edge and its story (tests may drive it themselves)
    pedestrians: bool = True  # enrol demo faces and run the pedestrian-gate scenario
    tls: Any = None  # transport.TlsSettings for --broker (CA, client certificate)
    hub_credentials: Any = None  # transport.Credentials of the hub on --broker


class Demo:
    def __init__(self, options: DemoOptions, site: SiteConfig) -> None:
        self.options = options
        self.site = site
        self.broker: EmbeddedBroker | None = None
        self.broker_url = options.broker or ""
        self.app: Any = None  # hub.app.HubApp
        self.hub: Any = None  # its core, hub.service.Hub
        self.agents: list[Any] = []
        self.vehicle_gates: list[Any] = []
        self.scenario: ScenarioRunner | None = None
        self.console: Any = None
        self.pedestrians: Any = None
        self.car_park_camera: Any = None
        self._tasks: list[asyncio.Task[Any]] = []

    def hub_keys(self) -> list[Any]:
        """The hub key the simulated edges pin: the demo hub's own (created on first run in
        DATA/keys), or, without a hub here (``anju sim``), DATA/keys/hub.pub if it exists."""
        if self.hub is not None:
            return [self.hub.signing_key.public_key()]
        from edge.agent import load_hub_keys

        pub = self.options.data / "keys" / "hub.pub"
        if not pub.exists():
            console.print(f"[yellow]no hub key in {pub}: the edges will refuse hub commands[/]")
            return []
        return load_hub_keys([pub])

    async def start(self) -> None:
        from edge.agent import EdgeAgent
        from simulators.hardware import simulated_hardware

        self.options.data.mkdir(parents=True, exist_ok=True)
        if self.options.pedestrians and self.options.with_hub:
            from anju_cli.demo.pedestrians import ensure_demo_face_key

            ensure_demo_face_key(self.options.data)  # before the edges start: they unseal with it
        if not self.options.broker:
            self.broker = EmbeddedBroker()
            await self.broker.start()
            self.broker_url = self.broker.url
            console.print(f"[bold]broker[/] embedded amqtt on {self.broker_url}")
        if self.options.with_hub:
            await self._start_hub()
        for index, edge in enumerate(self.site.edges):
            if not edge.gates:
                continue  # the car-park edge has no gate pipeline yet
            sims, camera, relay, sensor = simulated_hardware(
                self.site, edge.id, seed=self.options.seed * 100 + index
            )
            agent = EdgeAgent(
                self.site,
                edge.id,
                broker_url=self.broker_url,
                tls=self.options.tls,
                data_dir=self.options.data / "edges" / edge.id,
                camera_factory=camera,
                relay_factory=relay,
                sensor_factory=sensor,
                hub_keys=self.hub_keys(),
            )
            await agent.start()
            await self._settle(agent)
            self.agents.append(agent)
            self.vehicle_gates.extend(sims.values())
            console.print(f"[bold]edge[/] {edge.id}: gates {', '.join(edge.gates)}")
        has_car_park = self.site.car_park is not None and any(e.car_park for e in self.site.edges)
        if self.options.car_park and has_car_park:
            from anju_cli.demo.car_park import start_car_park

            self._tasks.append(await start_car_park(self))
            console.print("[bold]edge[/] edge-carpark: car-park camera, slot states, capacity")
        from anju_cli.demo.pedestrians import start_pedestrians

        task = await start_pedestrians(self) if self.options.pedestrians else None
        if task is not None:
            self.pedestrians = task.scenario  # type: ignore[attr-defined]
            console.print("[bold]pedestrians[/] faces enrolled with consent; face, QR and PIN")
        plan = plan_arrivals(
            self.site, self.options.arrivals, seed=self.options.seed, now=datetime.now(UTC)
        )
        self.scenario = ScenarioRunner(self.vehicle_gates, plan, interval_s=self.options.interval_s)
        self._tasks.append(asyncio.create_task(self.scenario.run(), name="scenario"))

    async def _start_hub(self) -> None:
        """The same ``HubApp`` as ``anju hub``: core, face sync, supervision deadlines,
        retention and (if asked) the console; then the demo's console accounts."""
        from anju_cli.demo.users import ensure_demo_users
        from anju_cli.embedded_broker import free_port
        from hub.app import ConsoleOptions, HubApp

        port = self.options.console_port
        options = None if port is None else ConsoleOptions(port=port or free_port())
        self.app = HubApp(
            [self.site],
            broker_url=self.broker_url,
            data_dir=self.options.data,
            console=options,
            credentials=self.options.hub_credentials,
            tls=self.options.tls,
        )
        await self.app.start()
        self.hub = self.app.hub
        console.print(f"[bold]hub[/] database {self.options.data / 'hub.db'}")
        if self.app.console is not None:
            accounts = await ensure_demo_users(self.hub.store, [self.site])
            self.console = self.app.console
            console.print(f"[bold green]console[/] {self.console.url}  (demo accounts below)")
            for account in accounts:
                console.print(f"          {account.line()}")

    async def progress(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        if self.hub is not None:
            counts = await self.hub.counts()
        return counts

    async def _settle(self, agent: EdgeAgent) -> None:
        """With the embedded broker, let one edge finish connecting and subscribing before
        the next connects: amqtt 0.12 iterates its subscription table while serving a new
        client and raises "dictionary changed size during iteration" when another client
        subscribes at that moment (the edge reconnects, but the log shows a traceback)."""
        if self.broker is None or agent.bus is None:
            return
        await agent.bus.wait_connected(5.0)
        await asyncio.sleep(SETTLE_S)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._wait_gates_clear()
        # Let each edge publish what its outbox still holds before it disconnects.
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while time.monotonic() < deadline and any(self._pending(a) for a in self.agents):
            await asyncio.sleep(0.2)
        for agent in self.agents:
            await _bounded(agent.stop(), f"stopping edge {agent.edge_id}")
        if self.app is not None:
            await asyncio.sleep(0.5)  # the last PUBLISHes in flight to the hub
            await _bounded(self.app.hub.flush(), "flushing the hub")
            await _bounded(self.app.stop(), "stopping the hub and its services")
        if self.broker is not None:
            await _bounded(self.broker.stop(), "stopping the embedded broker")

    async def _wait_gates_clear(self, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(g.occupied for g in self.vehicle_gates):
            await asyncio.sleep(0.2)

    @staticmethod
    def _pending(agent: Any) -> int:
        return agent.outbox.pending_count() if agent.outbox is not None else 0

    def scenario_counts(self) -> dict[str, int]:
        played: Counter[str] = self.scenario.played if self.scenario else Counter()
        return dict(played)

    def pedestrian_counts(self) -> dict[str, int]:
        return dict(self.pedestrians.played) if self.pedestrians is not None else {}


async def _bounded(step: Any, what: str, timeout_s: float = 15.0) -> None:
    """Shut-down steps must not hang the demo: log and go on after ``timeout_s``."""
    try:
        await asyncio.wait_for(step, timeout_s)
    except TimeoutError:
        log.warning("%s took longer than %.0f s; going on", what, timeout_s)


async def read_summary(data_dir: Path) -> dict[str, int]:
    """Counts read back from the hub's database (not from memory)."""
    from hub.store import Store

    store = await Store.open(data_dir)
    try:
        return await store.counts()
    finally:
        await store.close()


def without_credentials(site: SiteConfig) -> SiteConfig:
    """The embedded broker is anonymous on 127.0.0.1: edges connect without passwords."""
    edges = [e.model_copy(update={"credentials": None}) for e in site.edges]
    return site.model_copy(update={"edges": edges})


def load_demo_site(options: DemoOptions) -> SiteConfig:
    from anju_cli.demo.car_park import demo_parking_site

    site = load_site_config(options.site)
    if site.car_park is not None:
        site = demo_parking_site(site)  # demo-only: fire lane / no-parking limits of 30 s
    if options.broker is None or options.anonymous:
        site = without_credentials(site)
    return site


async def run_demo(options: DemoOptions) -> dict[str, Any]:
    demo = Demo(options, load_demo_site(options))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    try:
        await demo.start()
        console.print(
            "[green]running[/] "
            + (f"for {options.duration:.0f} s" if options.duration else "until Ctrl-C")
        )
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if options.duration is not None and elapsed >= options.duration:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5.0)
            counts = await demo.progress()
            arrivals = sum(demo.scenario_counts().values())
            console.print(
                f"[dim]{elapsed:6.0f}s[/] arrivals {arrivals:4d}  "
                + "  ".join(
                    f"{k} {counts.get(k, 0)}"
                    for k in ("events", "gate_opens", "gate_refusals", "violations", "rejected")
                )
            )
    finally:
        console.print("[yellow]stopping[/]: draining edge outboxes, flushing the hub")
        await demo.stop()
    summary: dict[str, Any] = {}
    if options.with_hub:
        summary.update(await read_summary(options.data))
        summary["database"] = str(options.data / "hub.db")
    summary["arrivals"] = demo.scenario_counts()
    summary["pedestrians"] = demo.pedestrian_counts()
    summary["seconds"] = round(time.monotonic() - started, 1)
    return summary
