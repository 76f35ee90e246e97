"""The project's own fault suite: real mosquitto (persistence on), a real ``anju hub`` process
and real ``anju loadgen`` edges (each with its on-disk outbox), real signals.

Every test asserts that what the edges produced is exactly what the hub stored, by envelope
id, once each. Short by default (CI); ``ANJU_FAULTS_LONG=1`` (``make test-all``) runs each
fault longer and harder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.harness import (
    Hub,
    Load,
    assert_produced_equals_stored,
    durable_broker,
    pause,
    resume,
    scale,
    site_file,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

DEVICES = 4
RATE = scale(300, 2000)  # events/s from all devices


@pytest.fixture
def broker(tmp_path: Path):
    broker = durable_broker(tmp_path / "broker")
    yield broker
    broker.stop()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return site_file(tmp_path, DEVICES)


def _load(tmp_path: Path, site: Path, broker, duration: float, **kw) -> Load:
    return Load(tmp_path, site, broker.url, devices=DEVICES, rate=RATE, duration=duration, **kw)


def test_hub_sigkill_mid_stream(tmp_path: Path, site: Path, broker) -> None:
    hub = Hub(tmp_path, site, broker.url)
    hub.start_ready()
    load = _load(tmp_path, site, broker, scale(6, 60))
    load.start_producing()
    try:
        for _ in range(int(scale(1, 3))):
            time.sleep(scale(2, 12))
            hub.kill()  # kill -9 between a commit and its acks, or inside a transaction
            time.sleep(scale(1, 5))  # the broker queues for the hub's session meanwhile
            hub.start_ready()
        assert load.wait(scale(60, 240)) == 0, load.log()
        assert_produced_equals_stored(load, hub, timeout=scale(30, 120))
    finally:
        load.kill()
        hub.stop()


def test_edge_sigkill_and_restart(tmp_path: Path, site: Path, broker) -> None:
    hub = Hub(tmp_path, site, broker.url)
    hub.start_ready()
    load = _load(tmp_path, site, broker, scale(30, 120))
    load.start_producing()
    try:
        time.sleep(scale(3, 20))
        load.kill()  # outbox rows committed, some handed to paho, some PUBACKed unmarked
        produced_before = len(load.produced())
        assert produced_before > 0
        again = _load(tmp_path, site, broker, 0, name="load-again")  # only drains the outboxes
        again.start()
        assert again.wait(scale(60, 240)) == 0, again.log()
        assert_produced_equals_stored(again, hub, timeout=scale(30, 120))
    finally:
        load.kill()
        hub.stop()


def test_broker_restart_with_persistence(tmp_path: Path, site: Path, broker) -> None:
    hub = Hub(tmp_path, site, broker.url)
    hub.start_ready()
    load = _load(tmp_path, site, broker, scale(8, 60))
    load.start_producing()
    try:
        for _ in range(int(scale(1, 3))):
            time.sleep(scale(2, 10))
            broker.stop()  # SIGTERM: mosquitto saves its sessions and queues
            time.sleep(scale(1, 5))
            broker.start()
        assert load.wait(scale(90, 300)) == 0, load.log()
        assert_produced_equals_stored(load, hub, timeout=scale(40, 120))
    finally:
        load.kill()
        hub.stop()


def test_partition_edges_buffer_and_drain(tmp_path: Path, site: Path, broker) -> None:
    hub = Hub(tmp_path, site, broker.url)
    hub.start_ready()
    load = _load(tmp_path, site, broker, scale(10, 240))
    load.start_producing()
    try:
        time.sleep(scale(2, 20))
        pause(broker)  # nothing moves: edges keep committing to their outboxes
        try:
            time.sleep(scale(4, 180))
        finally:
            resume(broker)
        assert load.wait(scale(120, 600)) == 0, load.log()
        assert_produced_equals_stored(load, hub, timeout=scale(60, 240))
    finally:
        load.kill()
        hub.stop()


def _mount_small_fs(where: Path, size: str) -> str | None:
    """A small tmpfs for the hub's data (SQLite gets ENOSPC -> SQLITE_FULL); None if this
    process may not mount (not root, or no mount in this sandbox)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return "mounting a small filesystem needs root"
    where.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    return None if done.returncode == 0 else f"mount failed: {done.stderr.strip()}"


def _fill(path: Path) -> None:
    """Fill the filesystem ``path`` is on, leaving nothing free."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 512):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_disk_full_loses_nothing_and_recovers_by_itself(tmp_path: Path, site: Path, broker) -> None:
    small = tmp_path / "small"
    # the long run's load (90 s) must fit once space is back: a bigger filesystem for it
    why = _mount_small_fs(small, "16m" if scale(0, 1) == 0 else "1g")
    if why:
        pytest.skip(why)
    try:
        hub = Hub(small, site, broker.url)
        hub.log_path = tmp_path / "hub.log"
        hub.start_ready()
        load = Load(tmp_path, site, broker.url, devices=DEVICES, rate=scale(300, 500),
                    duration=scale(12, 90))  # fmt: skip
        load.start_producing()
        try:
            time.sleep(scale(2, 10))
            filler = small / "filler"
            _fill(filler)  # the disk is full from here on
            assert wait_for(lambda: hub.readyz()[0] == 503, 30), hub.log()
            _status, body = hub.readyz()
            fault = body["storage_fault"]
            assert isinstance(fault, dict) and fault["code"] == "hub_storage_fault"
            time.sleep(scale(3, 30))
            assert 'anju_hub_messages_rejected_total{reason="internal"} 0.0' in hub.metrics()
            filler.unlink()  # space is back
            freed = time.monotonic()
            assert wait_for(lambda: hub.readyz()[0] == 200, 60), hub.log()
            ready_after = time.monotonic() - freed
            assert load.wait(scale(90, 300)) == 0, load.log()
            produced = assert_produced_equals_stored(load, hub, timeout=60)
            stored_after = time.monotonic() - freed
            assert stored_after < 60 + scale(12, 90), "not recovered within a minute"
            print(json.dumps({"disk_full_ready_after_s": round(ready_after, 1),
                              "all_stored_after_s": round(stored_after, 1),
                              "events": len(produced)}))  # fmt: skip
            assert "anju_hub_redelivery_requests_total 0.0" not in hub.metrics()
        finally:
            load.kill()
            hub.stop()
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
