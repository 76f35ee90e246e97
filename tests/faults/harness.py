"""Real processes for the fault suite: mosquitto (persistence on), ``anju hub`` and
``anju loadgen`` started with subprocess, killed with real signals.

``ANJU_FAULTS_LONG=1`` (``make test-all``) scales every fault up: longer load, longer
outages, more messages. The default (CI) runs each fault briefly.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from anju_cli.loadgen import produced_ids, write_site
from tests.mosquitto import MosquittoBroker, free_port

LONG = os.environ.get("ANJU_FAULTS_LONG") == "1"
ROOT = Path(__file__).resolve().parents[2]


def scale(short: float, long: float) -> float:
    return long if LONG else short


def wait_for(predicate: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def durable_broker(workdir: Path) -> MosquittoBroker:
    workdir.mkdir(parents=True, exist_ok=True)
    broker = MosquittoBroker(
        workdir,
        extra_config="\n".join(
            ["allow_anonymous true", "persistence true", f"persistence_location {workdir}/"]
        ),
    )
    broker.start()
    return broker


def pause(broker: MosquittoBroker) -> None:
    """A network partition: the broker answers nobody (TCP stays up, nothing moves)."""
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGSTOP)


def resume(broker: MosquittoBroker) -> None:
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGCONT)


class Proc:
    """A child process in its own process group (SIGKILL reaches its workers too)."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("ANJU_FACE_KEY", None)
        self.proc = subprocess.Popen(
            self.args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
            cwd=ROOT,
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL, to the whole group: no cleanup runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class Hub(Proc):
    def __init__(self, workdir: Path, site: Path, broker_url: str) -> None:
        self.data = workdir / "hub"
        self.ops_port = free_port()
        super().__init__(
            [sys.executable, "-m", "anju_cli.main", "hub", "--site", str(site),
             "--broker", broker_url, "--data", str(self.data), "--no-console",
             "--ops-port", str(self.ops_port)],
            workdir / "hub.log",
        )  # fmt: skip

    def readyz(self) -> tuple[int, dict[str, object]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ops_port}/readyz", timeout=2) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except (OSError, ValueError):
            return 0, {}

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.ops_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as r:
            return str(r.read().decode())

    def start_ready(self, timeout: float = 30.0) -> None:
        self.start()
        if not wait_for(lambda: self.readyz()[0] == 200, timeout):
            raise AssertionError(f"the hub did not get ready:\n{self.log()}")

    def stored(self) -> dict[str, tuple[str, int]]:
        """Envelope id -> (kind, rows: always 1, the id is the primary key) of everything
        the load generator's devices sent (their status messages bypass the outbox)."""
        path = self.data / "hub.db"
        if not path.exists():
            return {}
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute(
                "SELECT id, kind, count(*) FROM events WHERE kind != 'device_status' GROUP BY id"
            ).fetchall()
        except sqlite3.OperationalError:
            return {}
        finally:
            db.close()
        return {event_id: (kind, n) for event_id, kind, n in rows}


class Load(Proc):
    def __init__(self, workdir: Path, site: Path, broker_url: str, *, devices: int, rate: float,
                 duration: float, name: str = "load") -> None:  # fmt: skip
        self.data = workdir / "edges"
        super().__init__(
            [sys.executable, "-m", "anju_cli.main", "loadgen", "--site", str(site),
             "--devices", str(devices), "--rate", str(rate), "--duration", str(duration),
             "--broker", broker_url, "--data", str(self.data), "--processes", "1",
             "--drain-timeout", "120"],
            workdir / f"{name}.log",
        )  # fmt: skip

    def produced(self) -> dict[str, str]:
        return produced_ids(self.data)

    def start_producing(self, timeout: float = 90.0) -> None:
        """Start, and return once its first events are in the outboxes: starting Python
        processes on a busy machine takes seconds, and a fault injected before the load
        produced anything would test nothing."""
        self.start()
        if not wait_for(lambda: bool(self.produced()) or not self.running, timeout):
            raise AssertionError(f"the load produced nothing within {timeout:g} s: {self.log()}")


def site_file(workdir: Path, devices: int) -> Path:
    return write_site(workdir / "site.yaml", devices)


def assert_produced_equals_stored(load: Load, hub: Hub, timeout: float) -> dict[str, str]:
    """Wait until every produced envelope is stored; then exactly those, once each."""
    produced = load.produced()
    assert produced, "the load generator produced nothing"
    wait_for(lambda: set(hub.stored()) >= set(produced), timeout, every=0.5)
    stored = hub.stored()
    missing = set(produced) - set(stored)
    assert not missing, f"{len(missing)} of {len(produced)} produced events not stored"
    # a heartbeat may be dropped by the outbox bound while already on its way (the outbox
    # forgets it, the hub stores it); any other kind must have been produced
    extra = {i for i in set(stored) - set(produced) if stored[i][0] != "heartbeat"}
    assert not extra, f"{len(extra)} stored events nobody produced"
    assert all(n == 1 for _kind, n in stored.values()), "an event stored twice"
    return produced
