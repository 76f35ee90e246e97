"""``anju loadgen``: virtual edges publishing a realistic mix through the real edge outbox.

Each virtual device is what ``anju edge`` runs for MQTT: its own on-disk outbox (SQLite,
synchronous=FULL, rows marked delivered on PUBACK) drained by an ``MqttBus`` with its own
persistent session. The mix per device: plate reads with a real JPEG crop, gate decisions,
slot states and heartbeats (droppable, as on an edge). Devices are spread over
``--processes`` worker processes, so several cores can publish.

The hub must know the devices: without ``--site`` a synthetic site with ``--devices`` edges
(one vehicle gate each) is written to ``DATA/loadgen-site.yaml``; start the hub with it
(``anju loadgen --write-site FILE --devices N`` writes it and exits).

What was produced stays in each device's outbox (``DATA/<device>/outbox.db``), so a test or
benchmark can compare produced with stored by envelope id (``produced_ids``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import multiprocessing as mp
import random
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from models import topics
from models.messages import EnvelopeBase, Kind, make_message, utcnow
from models.plate import plate_error
from models.site import SiteConfig, load_site_config

log = logging.getLogger(__name__)

SITE_ID = "loadtest"
TICK_S = 0.05  # a device commits what is due every tick, in one outbox transaction
# The mix (share of events); heartbeats are the only droppable kind.
MIX: tuple[tuple[Kind, float], ...] = (
    (Kind.PLATE_READ, 0.30),
    (Kind.GATE_DECISION, 0.30),
    (Kind.SLOT_STATE, 0.30),
    (Kind.HEARTBEAT, 0.10),
)
_PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def synthetic_site(devices: int) -> dict[str, Any]:
    """A site config with ``devices`` edges, one vehicle gate each, and rules that raise
    no violations for load traffic (unknown vehicles allowed, offline after a day)."""
    edges = [{"id": f"lg-{i:04d}", "gates": [f"lg-{i:04d}-gate"]} for i in range(devices)]
    gates = [
        {"id": f"lg-{i:04d}-gate", "type": "vehicle", "camera": {"source": "sim:loadgen"}}
        for i in range(devices)
    ]
    return {
        "site": {
            "id": SITE_ID,
            "name": "负载测试 load test",
            "company": {"id": "loadtest-co", "name": "Load test"},
        },
        "edges": edges,
        "gates": gates,
        "rules": {"device_offline_after_s": 86400, "unknown_vehicle_is_violation": False},
    }


def write_site(path: Path, devices: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(synthetic_site(devices), allow_unicode=True, sort_keys=False))
    return path


def plate_crop_b64(seed: int = 1) -> str:
    """A real JPEG of a plate-sized crop (blue plate, white characters), about 2-4 KB."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    img = np.full((56, 180, 3), (160, 60, 20), np.uint8)  # BGR blue
    cv2.putText(img, "ZJ A1234", (6, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (255, 255, 255), 2)
    noisy = cv2.add(img, rng.integers(0, 25, img.shape, dtype=np.uint8))
    ok, jpeg = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return base64.b64encode(jpeg.tobytes()).decode()


def plates(rng: random.Random, n: int) -> list[str]:
    found: list[str] = []
    while len(found) < n:
        plate = "浙" + rng.choice("ABCDEFGH") + "".join(rng.choices(_PLATE_CHARS, k=5))
        if plate_error(plate) is None:
            found.append(plate)
    return found


@dataclass
class MixGenerator:
    """The next event of one device (pure, seeded)."""

    site: str
    device: str
    gate: str | None
    crop_b64: str
    rng: random.Random
    plate_pool: list[str]
    started: float = field(default_factory=time.monotonic)
    slots: dict[str, bool] = field(default_factory=dict)

    def next(self) -> tuple[str, EnvelopeBase, bool]:
        kinds = [k for k, _ in MIX]
        kind = self.rng.choices(kinds, weights=[w for _, w in MIX])[0]
        if self.gate is None and kind in (Kind.PLATE_READ, Kind.GATE_DECISION):
            kind = Kind.SLOT_STATE
        payload: dict[str, Any]
        plate = self.rng.choice(self.plate_pool)
        if kind is Kind.PLATE_READ:
            payload = {"gate": self.gate, "plate": plate, "color": "blue",
                       "confidence": round(self.rng.uniform(0.85, 0.99), 3), "frames": 4,
                       "box": [512, 430, 180, 56], "crop_jpeg_b64": self.crop_b64}  # fmt: skip
        elif kind is Kind.GATE_DECISION:
            payload = {"gate": self.gate, "credential": "plate", "subject": plate,
                       "decision": "open", "reason": "resident", "list_version": 1}  # fmt: skip
        elif kind is Kind.SLOT_STATE:
            slot = f"s{self.rng.randrange(20):02d}"
            occupied = not self.slots.get(slot, False)
            self.slots[slot] = occupied
            payload = {"slot": slot, "occupied": occupied, "source": "camera",
                       "since": utcnow() - timedelta(seconds=1),
                       "plate": plate if occupied else None}  # fmt: skip
        else:
            payload = {"uptime_s": round(time.monotonic() - self.started, 3),
                       "outbox_pending": 0, "version": "loadgen"}  # fmt: skip
        message = make_message(kind, site=self.site, device=self.device, payload=payload)
        topic = str(topics.event(self.site, self.device, kind.value))
        return topic, message, kind is Kind.HEARTBEAT


@dataclass(frozen=True)
class WorkerPlan:
    broker: str
    site: str
    devices: list[tuple[str, str | None]]  # device id, its gate (None: no gate)
    rate_per_device: float
    duration_s: float
    data_dir: str
    seed: int
    drain_timeout_s: float
    window: int = 500
    # broker logins from the site config's credentials (device -> username, password) and
    # TLS files (CA, cert, key): resolved in the parent, so a worker reads no secrets itself
    logins: dict[str, tuple[str, str]] = field(default_factory=dict)
    tls: tuple[str | None, str | None, str | None] | None = None


@dataclass
class WorkerResult:
    produced: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    dropped: int = 0  # heartbeats the outbox bound dropped (the edge's policy)
    undelivered: int = 0
    publish_seconds: float = 0.0
    drained_seconds: float = 0.0
    cpu_seconds: float = 0.0  # the worker processes' CPU time, summed


def run_worker(plan: WorkerPlan) -> WorkerResult:
    """A worker process's entry point."""
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(_worker(plan))


async def _worker(plan: WorkerPlan) -> WorkerResult:
    from edge.bus import MqttBus
    from edge.outbox import Outbox
    from transport import Credentials, TlsSettings

    tls = None
    if plan.tls is not None:
        ca, cert, key = (Path(p) if p else None for p in plan.tls)
        tls = TlsSettings(ca_file=ca, cert_file=cert, key_file=key)
    rng = random.Random(plan.seed)
    crop = plate_crop_b64(plan.seed)
    pool = plates(rng, 50)
    buses, gens = [], []
    for device, gate in plan.devices:
        (Path(plan.data_dir) / device).mkdir(parents=True, exist_ok=True)
        outbox = Outbox(Path(plan.data_dir) / device / "outbox.db")
        login = plan.logins.get(device)
        bus = MqttBus(
            plan.site,
            device,
            plan.broker,
            outbox,
            window=plan.window,
            credentials=Credentials(*login) if login else None,
            tls=tls,
        )
        buses.append(bus)
        gens.append(MixGenerator(plan.site, device, gate, crop, random.Random(rng.random()), pool))
    # outboxes are created before any MQTT: their directories exist even if the broker is down
    for bus in buses:
        await bus.start()
    result = WorkerResult()
    started = time.monotonic()
    due_total = 0.0
    sent = [0] * len(buses)
    while (now := time.monotonic()) - started < plan.duration_s:
        due_total = (now - started) * plan.rate_per_device
        batches = []
        for i, gen in enumerate(gens):
            n = int(due_total) - sent[i]
            if n > 0:
                batch = [gen.next() for _ in range(n)]
                sent[i] += n
                for _t, message, _d in batch:
                    kind = str(message.kind)  # type: ignore[attr-defined]
                    result.by_kind[kind] = result.by_kind.get(kind, 0) + 1
                batches.append(buses[i].publish_many(batch))
        if batches:
            await asyncio.gather(*batches)
        await asyncio.sleep(max(0.0, TICK_S - (time.monotonic() - now)))
    result.produced = sum(sent)
    result.publish_seconds = time.monotonic() - started
    deadline = time.monotonic() + plan.drain_timeout_s
    while time.monotonic() < deadline:
        pending = sum([await bus.pending() for bus in buses])
        if pending == 0:
            break
        await asyncio.sleep(0.1)
    result.undelivered = sum([await bus.pending() for bus in buses])
    result.drained_seconds = time.monotonic() - started
    result.dropped = sum([(await asyncio.to_thread(bus.outbox.stats)).dropped for bus in buses])
    for bus in buses:
        await bus.stop()
        bus.outbox.close()
    result.cpu_seconds = time.process_time()
    return result


@dataclass(frozen=True)
class LoadPlan:
    broker: str
    site: SiteConfig
    devices: int
    rate: float
    duration_s: float
    data_dir: Path
    processes: int = 1
    seed: int = 1
    drain_timeout_s: float = 60.0
    tls: tuple[str | None, str | None, str | None] | None = None  # CA, cert, key files


def worker_plans(plan: LoadPlan) -> list[WorkerPlan]:
    edges = plan.site.edges[: plan.devices]
    if len(edges) < plan.devices:
        raise ValueError(
            f"site {plan.site.site.id} has {len(plan.site.edges)} edges, --devices asks for "
            f"{plan.devices} (omit --site for a synthetic site of that size)"
        )
    devices = [(e.id, e.gates[0] if e.gates else None) for e in edges]
    logins = {
        e.id: (e.credentials.username, e.credentials.password())
        for e in edges
        if e.credentials is not None
    }
    processes = max(1, min(plan.processes, len(devices)))
    return [
        WorkerPlan(
            broker=plan.broker,
            site=plan.site.site.id,
            devices=devices[p::processes],
            rate_per_device=plan.rate / len(devices),
            duration_s=plan.duration_s,
            data_dir=str(plan.data_dir),
            seed=plan.seed * 1000 + p,
            drain_timeout_s=plan.drain_timeout_s,
            logins={d: logins[d] for d, _ in devices[p::processes] if d in logins},
            tls=plan.tls,
        )
        for p in range(processes)
    ]


def run_load(plan: LoadPlan) -> dict[str, Any]:
    """Run the workers (one process each) and sum up what they produced."""
    plans = worker_plans(plan)
    ctx = mp.get_context("spawn")
    started = time.monotonic()
    with ctx.Pool(len(plans)) as pool:
        results = pool.map(run_worker, plans)
    total = WorkerResult()
    for r in results:
        total.produced += r.produced
        total.undelivered += r.undelivered
        total.dropped += r.dropped
        for k, v in r.by_kind.items():
            total.by_kind[k] = total.by_kind.get(k, 0) + v
        total.publish_seconds = max(total.publish_seconds, r.publish_seconds)
        total.drained_seconds = max(total.drained_seconds, r.drained_seconds)
        total.cpu_seconds += r.cpu_seconds
    summary = asdict(total)
    summary.update(
        site=plan.site.site.id,
        devices=plan.devices,
        processes=len(plans),
        rate_asked=plan.rate,
        rate_produced=round(total.produced / total.publish_seconds, 1)
        if total.publish_seconds
        else 0.0,
        wall_seconds=round(time.monotonic() - started, 2),
    )
    return summary


def produced_ids(data_dir: Path) -> dict[str, str]:
    """Every envelope id in the outboxes under ``data_dir`` (what was produced and not
    dropped by the outbox bound), with its kind."""
    found: dict[str, str] = {}
    for path in sorted(Path(data_dir).glob("*/outbox.db")):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT payload FROM outbox").fetchall()
        except sqlite3.OperationalError as exc:
            # read while its edge is still creating it: the file is there, the table not yet
            if "no such table" not in str(exc):
                raise
            rows = []
        finally:
            db.close()
        for (payload,) in rows:
            envelope = json.loads(payload)
            found[envelope["id"]] = envelope["kind"]
    return found


def load_plan_site(site: Path | None, devices: int, data: Path) -> tuple[SiteConfig, Path]:
    if site is None:
        site = write_site(data / "loadgen-site.yaml", devices)
    return load_site_config(site), site
