"""The edge agent: runs the gate pipelines of one edge, answers commands, syncs lists, beats.

Decisions come from lists cached on disk (the newest ``vehicle_list`` the hub sent, or at the
very first start the site config's ``vehicles``), so the gates work with hub and broker down.
Every event goes through the outbox (edge/outbox.py) before MQTT.

Nothing from the hub is acted on unless it is signed by a pinned hub key, for this site and
edge, and fresh (models/signing.py): a command id is obeyed once ever, a list replaces the
cache only if the hub issued it later. Anything else is refused and raised as a
``control_refused`` alarm to the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.bus import MqttBus
from edge.context import EdgeContext
from edge.gate_control import GateControl
from edge.interfaces import (
    Camera,
    CameraFactory,
    DoorContact,
    HardwareFactories,
    PresenceSensor,
    Relay,
    RelayFactory,
    SensorFactory,
)
from edge.outbox import Outbox, OutboxLimits
from edge.pipeline import GateDevices, GatePipeline, PipelineDeps, VoterLike, pipeline_for
from edge.store import EdgeStore
from edge.vehicle_gate.decisions import CapacityCheck, LocalLists
from models.messages import (
    AckResult,
    Alarm,
    AlarmType,
    AnyMessage,
    CommandAck,
    Credential,
    Decision,
    DecisionReason,
    GateAction,
    GateCommand,
    GateDecision,
    Heartbeat,
    Kind,
    Severity,
    VehicleList,
    utcnow,
)
from models.signing import Expected, SignatureError, check_signed, public_from_text
from models.site import ConfigError, GateConfig, GateType, SiteConfig, load_site_config
from transport import Credentials, TlsSettings

log = logging.getLogger(__name__)

AGENT_VERSION = "anju-edge 0.1.0"

ServiceRun = Callable[[], Awaitable[None]]
# An edge-level service (the car park): called with the context before the bus starts (it may
# register bus handlers and set ``ctx.capacity``); returns what to run, supervised, after.
ServiceFactory = Callable[[EdgeContext], ServiceRun]


class EdgeAgent:
    def __init__(
        self,
        site_config: SiteConfig,
        edge_id: str,
        *,
        broker_url: str,
        data_dir: Path | str,
        camera_factory: CameraFactory,
        relay_factory: RelayFactory,
        sensor_factory: SensorFactory,
        reader: Any | None = None,
        voter_factory: Callable[[], VoterLike] | None = None,
        capacity: CapacityCheck | None = None,
        heartbeat_s: float | None = None,
        bus_options: dict[str, Any] | None = None,
        pipeline_options: dict[str, Any] | None = None,
        services: Sequence[ServiceFactory] = (),
        tls: TlsSettings | None = None,
        hub_keys: Sequence[Ed25519PublicKey] = (),
    ) -> None:
        self.site = site_config
        self.edge = site_config.edge(edge_id)
        self.edge_id = edge_id
        self.broker_url = broker_url
        self.data_dir = Path(data_dir)
        self.camera_factory = camera_factory
        self.relay_factory = relay_factory
        self.sensor_factory = sensor_factory
        self.reader = reader
        self.voter_factory = voter_factory
        self.capacity = capacity
        self.heartbeat_s = heartbeat_s or self.edge.heartbeat_s
        self.bus_options = bus_options or {}
        self.pipeline_options = pipeline_options or {}
        self.services = list(services)
        self.tls = tls
        # the hub's public keys this edge trusts (two while a key is rotated); none: the edge
        # obeys no command and takes no list from the network (it says so with an alarm)
        self.trust = Expected(site_config.site.id, edge_id, tuple(hub_keys))
        self._refusals: list[float] = []  # monotonic times of recent refusal alarms
        self.refused_alarms_suppressed = 0
        self.gates = {g.id: g for g in site_config.gates_of(edge_id)}
        self.controls: dict[str, GateControl] = {}
        self.pipelines: dict[str, GatePipeline] = {}
        self.cameras: list[Camera] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._started = time.monotonic()
        self._stop = asyncio.Event()
        self._lists = LocalLists.from_site_vehicles(site_config.vehicles)
        self._alarm_tasks: set[asyncio.Future[Any]] = set()
        self.outbox: Outbox | None = None
        self.store: EdgeStore | None = None
        self.bus: MqttBus | None = None
        self.ctx: EdgeContext | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def lists(self) -> LocalLists:
        return self._lists

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(
            self.data_dir / "outbox.db",
            OutboxLimits(max_pending_bytes=int(self.edge.outbox_max_mb * 1024 * 1024)),
        )
        self.store = EdgeStore(self.data_dir / "state.db")
        cached = await asyncio.to_thread(self.store.load_vehicle_list)
        if cached is not None:
            self._lists = LocalLists.from_vehicle_list(cached)
        log.info("edge %s: deciding with lists version %s", self.edge_id, self._lists.version)

        credentials = None
        if self.edge.credentials is not None:
            credentials = Credentials(
                self.edge.credentials.username, self.edge.credentials.password()
            )
        self.bus = MqttBus(
            self.site.site.id,
            self.edge_id,
            self.broker_url,
            self.outbox,
            credentials=credentials,
            tls=self.tls,
            **self.bus_options,
        )
        self.bus.guard = self._guard
        self.bus.on_refused = self._refused
        self.bus.on_command(self._on_command)
        self.bus.on_sync(self._on_sync)
        self.ctx = EdgeContext(
            self.site.site.id, self.edge_id, self.bus, lambda: self._lists, capacity=self.capacity
        )
        self._build_gates(self.ctx)
        # Services (the car park) are built before the bus starts, so the handlers they
        # register see the retained sync lists that arrive right after connecting.
        service_runs = [(factory(self.ctx), i) for i, factory in enumerate(self.services)]
        self._started = time.monotonic()
        await self.bus.start()
        for control in self.controls.values():
            await control.announce()
        for gate_id, pipeline in self.pipelines.items():
            self._spawn(self._supervise(gate_id, pipeline), f"gate-{gate_id}")
        for run, index in service_runs:
            self._spawn(self._supervise(f"service-{index}", run), f"service-{index}")
        self._spawn(self._heartbeats(), "heartbeat")

    def _build_gates(self, ctx: EdgeContext) -> None:
        deps = PipelineDeps(**self.pipeline_options)
        if deps.data_dir is None:
            deps.data_dir = self.data_dir
        if any(g.type is GateType.VEHICLE for g in self.gates.values()):
            deps.reader, deps.voter_factory = self._recogniser()
        for gate in self.gates.values():
            relay = self.relay_factory(gate)
            pipeline_type = pipeline_for(gate.type)
            if pipeline_type is None:
                # Remote commands still work; recognition waits for its pipeline (face helper).
                log.warning("gate %s: no pipeline for %s gates yet", gate.id, gate.type)
                self.controls[gate.id] = GateControl(gate.id, relay, ctx)
                continue
            sensor = self.sensor_factory(gate)
            camera = self.camera_factory(gate)
            self.cameras.append(camera)
            # Never lower the barrier onto a vehicle the loop still detects.
            detector = getattr(sensor, "is_vehicle_detector", True)
            control = GateControl(
                gate.id, relay, ctx, hold_open=sensor.present if detector else None
            )
            self.controls[gate.id] = control
            devices = GateDevices(
                camera=camera, sensor=sensor, control=control, door=door_contact(gate, sensor)
            )
            self.pipelines[gate.id] = pipeline_type(gate, devices, ctx, deps)

    def _recogniser(self) -> tuple[Any, Callable[[], VoterLike]]:
        reader, voter_factory = self.reader, self.voter_factory
        if reader is None or voter_factory is None:
            # heavy (onnxruntime models): only when a vehicle gate exists
            from recognition import lpr

            reader = reader or lpr.PlateReader(home_province=self.site.site.home_province)
            voter_factory = voter_factory or (
                lambda: lpr.PlateVoter(min_frames=3, sure_confidence=lpr.SURE_CONFIDENCE)
            )
        return reader, voter_factory

    async def _supervise(self, name: str, runner: GatePipeline | ServiceRun) -> None:
        """A gate must not stay dead after one bad frame or a driver hiccup: restart it."""
        assert self.ctx is not None
        delay = 0.5
        while True:
            started = time.monotonic()
            try:
                await (runner.run() if isinstance(runner, GatePipeline) else runner())
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("%s: failed, restarting in %.1f s", name, delay)
                with contextlib.suppress(Exception):
                    await self.ctx.emit(
                        Kind.ALARM,
                        Alarm(
                            type=AlarmType.GATE_FAULT,
                            gate=name if name in self.gates else None,
                            detail=f"{name} restarted after {type(exc).__name__}: {exc}"[:500],
                        ),
                    )
            # Back off while it keeps failing quickly; start over after a good long run.
            if time.monotonic() - started > 60:
                delay = 0.5
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "edge %s: task %s died", self.edge_id, task.get_name(), exc_info=task.exception()
            )

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for control in self.controls.values():
            await control.stop()
        if self.bus is not None:
            await self.bus.stop()
        for camera in self.cameras:
            with contextlib.suppress(Exception):
                camera.close()
        if self.outbox is not None:
            self.outbox.close()
        if self.store is not None:
            self.store.close()

    def request_stop(self) -> None:
        """Make ``run_forever`` return (after a clean stop); safe from a signal handler."""
        self._stop.set()

    async def run_forever(self) -> None:
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.stop()  # also after a failed start: close what was opened

    # ------------------------------------------------------------------ heartbeat

    async def _heartbeats(self) -> None:
        assert self.ctx is not None and self.bus is not None
        while True:
            assert self.outbox is not None
            pending, oldest_s, dropped = await asyncio.to_thread(self.outbox.depth)
            beat = Heartbeat(
                uptime_s=round(time.monotonic() - self._started, 3),
                outbox_pending=pending,
                version=AGENT_VERSION,
                outbox_oldest_s=None if oldest_s is None else round(oldest_s, 3),
                outbox_dropped=dropped,
            )
            await self.ctx.emit(Kind.HEARTBEAT, beat, droppable=True)
            await asyncio.sleep(self.heartbeat_s)

    # ------------------------------------------------------------------ hub -> edge

    def _guard(self, message: AnyMessage) -> str | None:
        """The bus asks before any handler sees a hub -> edge message."""
        if not self.trust.keys:
            return "no hub public key pinned on this edge (--hub-key)"
        now = self.ctx.now() if self.ctx is not None else utcnow()
        try:
            check_signed(message, self.trust, now)
        except SignatureError as exc:
            return exc.reason
        return None

    def _refused(self, message: AnyMessage, topic: str, reason: str) -> None:
        """Raise a refused hub -> edge message as an alarm (at most 10 a minute: a flood of
        forgeries must not flood the outbox; the rest are counted in the next one)."""
        if self.ctx is None:
            return
        now = time.monotonic()
        self._refusals = [t for t in self._refusals if now - t < 60.0]
        if len(self._refusals) >= 10:
            self.refused_alarms_suppressed += 1
            return
        self._refusals.append(now)
        suppressed, self.refused_alarms_suppressed = self.refused_alarms_suppressed, 0
        gate = vars(message.payload).get("gate")
        detail = f"refused {message.kind} {message.id} on {topic}: {reason}"
        if suppressed:
            detail += f" (and {suppressed} more refused without an alarm)"
        alarm = Alarm(
            type=AlarmType.CONTROL_REFUSED,
            gate=gate if gate in self.gates else None,
            severity=Severity.CRITICAL,
            detail=detail[:500],
            subject=message.device,
        )
        task = asyncio.ensure_future(self.ctx.emit(Kind.ALARM, alarm))
        self._alarm_tasks.add(task)
        task.add_done_callback(self._alarm_tasks.discard)

    async def _on_sync(self, message: AnyMessage) -> None:
        assert self.store is not None
        if message.kind != Kind.VEHICLE_LIST:
            return
        lists: VehicleList = message.payload
        # ordered by the hub's issue time (signed), never by the version number
        if await asyncio.to_thread(self.store.save_vehicle_list, lists, message.ts):
            self._lists = LocalLists.from_vehicle_list(lists)
            log.info("edge %s: vehicle lists now version %d", self.edge_id, lists.version)

    async def _on_command(self, message: AnyMessage) -> None:
        assert self.store is not None and self.ctx is not None
        command_id = message.id
        if message.kind != Kind.GATE_COMMAND:
            return  # not ours to answer: only gate commands carry an ack contract
        if await asyncio.to_thread(self.store.command_result, command_id) is not None:
            # the id is the nonce: a command is obeyed once, ever (kept across restarts)
            self._refused(
                message, f"cmd/{message.payload.gate}", "replayed: command id seen before"
            )
            return
        command: GateCommand = message.payload
        control = self.controls.get(command.gate)
        if command.expires_at <= self.ctx.now():
            result, detail = AckResult.EXPIRED, f"expired at {command.expires_at.isoformat()}"
        elif control is None:
            result, detail = (
                AckResult.UNKNOWN_GATE,
                f"{command.gate} is not a gate of {self.edge_id}",
            )
        else:
            result, detail = AckResult.DONE, ""
        # Record before acting: at most once, even if we crash in between.
        if not await asyncio.to_thread(self.store.record_command, command_id, result, detail):
            return
        if result is AckResult.DONE:
            assert control is not None
            result, detail = await self._act(command, control, command_id)
        await self.ctx.emit(
            Kind.COMMAND_ACK, CommandAck(command_id=command_id, result=result, detail=detail)
        )

    async def _act(
        self, command: GateCommand, control: GateControl, command_id: str
    ) -> tuple[AckResult, str]:
        assert self.ctx is not None
        cause = f"remote {command.action} by {command.operator}: {command.reason}"
        if command.action is GateAction.OPEN:
            ok = await control.open_for(self.gates[command.gate].open_seconds, cause)
        elif await control.vehicle_present():
            return AckResult.REJECTED, "a vehicle is at the barrier: not closing onto it"
        else:
            ok = await control.close(cause)
        if not ok:
            return AckResult.REJECTED, "relay fault"
        if command.action is GateAction.OPEN:
            await self.ctx.emit(
                Kind.GATE_DECISION,
                GateDecision(
                    gate=command.gate,
                    credential=Credential.REMOTE,
                    subject=command.operator,
                    decision=Decision.OPEN,
                    reason=DecisionReason.REMOTE_COMMAND,
                    list_version=self._lists.version,
                    source_event=command_id,
                ),
            )
        return AckResult.DONE, ""


# ---------------------------------------------------------------------- CLI entry


def door_contact(gate: GateConfig, sensor: PresenceSensor) -> DoorContact | None:
    """The gate's door contact as its config says: a GPIO input, or the simulated gate
    unit's own (found on its presence sensor, like the credential reader)."""
    if gate.door is None:
        return None
    if gate.door.driver == "gpio":
        from edge.drivers.gpio_input import SysfsGpioDoorContact

        assert gate.door.pin is not None
        return SysfsGpioDoorContact(gate.door.pin, open_level=gate.door.open_level)
    contact = getattr(sensor, "door_contact", None)
    if not isinstance(contact, DoorContact):
        # The gate still works; only the door alarms are missing. Said once, at start.
        log.warning("gate %s: door.driver is sim but no simulated door: no door alarms", gate.id)
        return None
    return contact


def hardware_factories() -> HardwareFactories:
    """Real drivers: OpenCV cameras, GPIO relays (``driver: sim`` relays only log)."""
    from edge.drivers.gpio_relay import SysfsGpioRelay
    from edge.drivers.log_relay import LogOnlyRelay
    from edge.drivers.opencv_camera import OpenCVCamera
    from edge.drivers.presence import AlwaysPresent

    def camera(gate: GateConfig) -> Camera:
        cfg = gate.camera
        if isinstance(cfg.source, str) and cfg.source.startswith("sim:"):
            raise ConfigError(
                f"gate {gate.id}: camera source {cfg.source!r} is a simulator; run with"
                " --simulate or give an RTSP/HTTP URL, a file or a device index"
            )
        return OpenCVCamera(cfg.source, width=cfg.width, height=cfg.height)

    def relay(gate: GateConfig) -> Relay:
        if gate.relay.driver == "gpio":
            assert gate.relay.pin is not None
            return SysfsGpioRelay(gate.relay.pin, active_high=gate.relay.active_high)
        return LogOnlyRelay(gate.id)

    def sensor(gate: GateConfig) -> PresenceSensor:
        if gate.loop is not None:
            from edge.drivers.gpio_input import SysfsGpioLoopDetector

            return SysfsGpioLoopDetector(gate.loop.pin, active_level=gate.loop.active_level)
        if gate.type is GateType.VEHICLE:
            log.warning("gate %s: no loop detector configured: recognising continuously", gate.id)
        return AlwaysPresent()

    return camera, relay, sensor


def load_hub_keys(paths: Sequence[Path | str]) -> list[Ed25519PublicKey]:
    """The pinned hub public keys, one per file (``hub.pub`` of the hub's key directory);
    ConfigError naming the file otherwise."""
    keys = []
    for path in paths:
        try:
            keys.append(public_from_text(Path(path).read_text()))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"hub key {path}: {exc}") from None
    return keys


async def run_edge(
    site_path: Path | str,
    edge_id: str,
    broker_url: str,
    data_dir: Path | str,
    hardware: Callable[[SiteConfig, str], HardwareFactories] | None = None,
    *,
    tls: TlsSettings | None = None,
    hub_keys: Sequence[Path | str] = (),
) -> None:
    """``anju edge``: run one edge until cancelled (Ctrl-C). ``hardware(site, edge_id)`` builds
    the drivers; default: the real ones (``anju edge --simulate`` passes the simulators').
    ``hub_keys``: files with the hub public key(s) the edge pins; without one it obeys no
    command and takes no list from the network."""
    site = load_site_config(site_path)
    pinned = load_hub_keys(hub_keys)
    if not pinned:
        log.warning("edge %s: no --hub-key: every hub command and list will be refused", edge_id)
    camera, relay, sensor = hardware(site, edge_id) if hardware else hardware_factories()
    agent = EdgeAgent(
        site,
        edge_id,
        broker_url=broker_url,
        data_dir=Path(data_dir) / edge_id,
        camera_factory=camera,
        relay_factory=relay,
        sensor_factory=sensor,
        tls=tls,
        hub_keys=pinned,
    )
    # systemd stops services with SIGTERM: stop cleanly (barrier down, "offline" published).
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, agent.request_stop)
    await agent.run_forever()
