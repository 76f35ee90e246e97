"""Storage faults: a full disk or a locked database is never a reject and never acknowledged;
the hub recovers by itself once storage works and the broker resends what it held.

SQLite fails with a real SQLITE_FULL here through ``PRAGMA max_page_count`` on the hub's own
writer connection (the loop-mounted small filesystem is in tests/faults/).
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from hub.ops import ops_app
from hub.recorder import Recorder
from hub.service import Hub
from hub.storage_fault import Backoff, StorageFault, is_storage_error, storage_error_kind
from hub.store import Store
from hub.validate import Accepted
from models import topics
from models.messages import Kind, make_message, utcnow
from tests.support import NORTH, NORTH_GATE, SITE, PahoClient, heartbeat, lakeside

CROP = base64.b64encode(bytes(range(256)) * 60).decode()  # 20 KB of "JPEG"


def big_read(i: int) -> bytes:
    payload = {"gate": NORTH_GATE, "plate": "浙HA1234", "color": "blue", "confidence": 0.9,
               "frames": 3, "crop_jpeg_b64": CROP}  # fmt: skip
    return make_message(
        Kind.PLATE_READ, site=SITE, device=NORTH, payload=payload, id=f"read-{i:08d}"
    ).to_json()


READ_TOPIC = str(topics.event(SITE, NORTH, "plate_read"))


def test_real_sqlite_errors_are_told_apart(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    db.execute("CREATE TABLE t (x UNIQUE)")
    db.execute("PRAGMA max_page_count = 2")
    with pytest.raises(sqlite3.OperationalError) as full:
        db.execute("INSERT INTO t VALUES (?)", ("x" * 20000,))
    assert storage_error_kind(full.value) == "disk_full"

    db.execute("PRAGMA max_page_count = 100000")
    other = sqlite3.connect(tmp_path / "x.db", isolation_level=None, timeout=0)
    db.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as locked:
        other.execute("BEGIN IMMEDIATE")
    assert storage_error_kind(locked.value) == "locked"
    db.execute("ROLLBACK")

    db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as dup:
        db.execute("INSERT INTO t VALUES (1)")
    assert not is_storage_error(dup.value)  # the data's fault, not the disk's
    assert not is_storage_error(KeyError("site"))
    wrapped = RuntimeError("wrapper")
    wrapped.__cause__ = full.value  # e.g. an ORM's error around the driver's
    assert storage_error_kind(wrapped) == "disk_full"
    assert storage_error_kind(OSError(28, "No space left on device")) == "io_error"


def test_backoff_doubles_to_its_maximum_and_resets() -> None:
    backoff = Backoff(first_s=0.5, max_s=3)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3, 3]
    backoff.reset()
    assert backoff.next() == 0.5


async def test_disk_full_raises_a_fault_and_stores_no_reject(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        recorder = Recorder(store, [lakeside()])
        await recorder.load()
        await recorder.record([Accepted(heartbeat(), "t", utcnow())])
        (pages,) = await (await store.db.execute("PRAGMA page_count")).fetchone()
        await store.db.execute(f"PRAGMA max_page_count = {pages + 1}")
        reads = [
            Accepted(make_message(Kind.PLATE_READ, site=SITE, device=NORTH, payload={
                "gate": NORTH_GATE, "plate": "浙HA1234", "color": "blue", "confidence": 0.9,
                "frames": 3, "crop_jpeg_b64": CROP}), READ_TOPIC, utcnow())
            for _ in range(3)
        ]  # fmt: skip
        with pytest.raises(StorageFault) as fault:
            await recorder.record(reads)
        assert fault.value.kind == "disk_full"
        counts = await store.counts()
        assert (counts["events"], counts["rejected"]) == (1, 0)  # no "internal error" reject
        await store.db.execute("PRAGMA max_page_count = 1073741823")
        done = await recorder.record(reads)
        assert len(done.new) == 3 and (await store.counts())["events"] == 4
    finally:
        await store.close()


async def _set_max_pages(hub: Hub, pages: int | None) -> None:
    assert hub.store is not None
    async with hub.store._lock:  # between two transactions of the hub
        if pages is None:
            (pages,) = await (await hub.store.db.execute("PRAGMA page_count")).fetchone()
        await hub.store.db.execute(f"PRAGMA max_page_count = {pages}")


async def _wait(predicate, timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.e2e
async def test_hub_holds_everything_during_a_full_disk_and_recovers_by_itself(
    mosquitto, tmp_path: Path
) -> None:
    hub = Hub([lakeside()], broker_url=mosquitto.url, data_dir=tmp_path / "hub",
              storage_retry_max_s=1.0)  # fmt: skip
    await hub.start()
    edge = await asyncio.to_thread(PahoClient, mosquitto.port, "edge-north-test")
    ops = httpx.AsyncClient(transport=httpx.ASGITransport(app=ops_app(hub)), base_url="http://o")
    try:
        for i in range(20):
            edge.publish(READ_TOPIC, big_read(i))

        async def stored(n: int) -> bool:
            return (await hub.counts())["events"] >= n

        assert await _wait(lambda: stored(20), 10)
        assert (await ops.get("/readyz")).status_code == 200

        await _set_max_pages(hub, None)  # the disk is full from now on
        for i in range(20, 120):
            edge.publish(READ_TOPIC, big_read(i))

        async def faulted() -> bool:
            return hub.health.storage_fault is not None

        assert await _wait(faulted, 10)
        ready = await ops.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["storage_fault"]["code"] == "hub_storage_fault"
        assert ready.json()["storage_fault"]["kind"] == "disk_full"
        for i in range(120, 220):  # arrive during the fault: left with the broker
            edge.publish(READ_TOPIC, big_read(i))
        await asyncio.sleep(1.5)  # a few retries while full
        counts = await hub.counts()
        assert counts["events"] == 20 and counts["rejected"] == 0
        assert hub.health.storage_fault is not None and hub.health.storage_fault.held > 0

        await _set_max_pages(hub, 1073741823)  # space is back
        started = asyncio.get_running_loop().time()
        assert await _wait(lambda: stored(220), 30), await hub.counts()
        recovered_in = asyncio.get_running_loop().time() - started
        assert recovered_in < 15
        assert hub.health.storage_fault is None
        assert (await ops.get("/readyz")).status_code == 200

        rows = await hub.store.events(kind="plate_read", limit=1000)
        ids = sorted(r["id"] for r in rows)
        assert ids == sorted(f"read-{i:08d}" for i in range(220))  # all, once each
        assert (await hub.counts())["rejected"] == 0
        [audit] = await hub.store.audit_log(target="hub/storage")
        assert audit["action"] == "hub.storage_fault" and audit["before"]["kind"] == "disk_full"
        await asyncio.sleep(0.3)
        text = (await ops.get("/metrics")).text
        assert 'anju_hub_storage_errors_total{kind="disk_full"}' in text
        assert "anju_hub_redelivery_requests_total 1.0" in text
        assert "anju_hub_storage_fault 0.0" in text
        assert 'anju_hub_messages_stored_total{kind="plate_read"} 220.0' in text
        assert hub.backlog() == 0
    finally:
        await ops.aclose()
        edge.close()
        await hub.stop()


# ---------------------------------------------------------------------- PostgreSQL

_DISK_FULL_TRIGGER = """
CREATE FUNCTION fail_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'
      USING ERRCODE = 'disk_full'; END $$;
CREATE TRIGGER disk_full BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION fail_disk_full();
"""


async def test_postgresql_disk_full_and_a_lost_connection_are_faults(tmp_path: Path) -> None:
    """The server's own errors, through asyncpg and SQLAlchemy: SQLSTATE 53100 (raised by a
    trigger, as the server raises it when it cannot extend a file) and the writer's backend
    killed by an administrator (connection lost). Both hold the batch; the store recovers."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from tests.databases import postgres_database

    async with postgres_database() as url:
        store = await Store.open(tmp_path, url)
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        admin = await asyncpg.connect(dsn)
        try:
            recorder = Recorder(store, [lakeside()])
            await recorder.load()
            await recorder.record([Accepted(heartbeat(), "t", utcnow())])
            await admin.execute(_DISK_FULL_TRIGGER)
            batch = [Accepted(heartbeat(), "t", utcnow()) for _ in range(3)]
            with pytest.raises(StorageFault) as fault:
                await recorder.record(batch)
            assert fault.value.kind == "disk_full"
            assert (await store.counts())["rejected"] == 0
            await admin.execute("DROP TRIGGER disk_full ON events")

            async with store.transaction():  # the writer connection's server process
                writer_pid = (await store.conn.execute(select(func.pg_backend_pid()))).scalar()
            await admin.execute("SELECT pg_terminate_backend($1)", writer_pid)
            with pytest.raises(StorageFault) as fault:
                await recorder.record(batch)
            assert fault.value.kind == "disconnected"
            done = await recorder.record(batch)  # the next try reconnects
            assert len(done.new) == 3
            counts = await store.counts()
            assert (counts["events"], counts["rejected"]) == (4, 0)
        finally:
            await admin.close()
            await store.close()
