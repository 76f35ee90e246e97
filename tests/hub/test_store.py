"""The hub's SQLite store and recorder, without a broker: schema, de-duplication, batching,
counts, violations (open, resolve, one per device), commands and the audit log."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text

from hub.batcher import BatchWriter
from hub.db.migrate import head_revision
from hub.recorder import Recorder, RejectBudget
from hub.rules import offline_key
from hub.schema import apply_migrations
from hub.store import HubStore, Store, iso
from hub.validate import Accepted, Rejected
from models.messages import EnvelopeBase
from tests.support import (
    EAST,
    NORTH,
    NORTH_GATE,
    SITE,
    T0,
    ack,
    alarm,
    decision,
    heartbeat,
    lakeside,
    later,
    plate_read,
    status,
    topic_for,
)


def accepted(msg: EnvelopeBase, at=T0) -> Accepted:
    return Accepted(msg, topic_for(msg), at)


@pytest.fixture
async def store(tmp_path: Path, db_url):
    store = await Store.open(tmp_path, db_url)
    yield store
    await store.close()


@pytest.fixture
async def recorder(store: Store) -> Recorder:
    rec = Recorder(store, [lakeside(device_offline_after_s=30)])
    await rec.load()
    return rec


async def test_opening_twice_migrates_once_and_sqlite_runs_in_wal(tmp_path: Path, db_url) -> None:
    first = await Store.open(tmp_path, db_url)
    await first.close()
    store = await Store.open(tmp_path, db_url)  # opening again applies nothing twice
    try:
        version = await store.scalar(text("SELECT version_num FROM alembic_version"))
        assert version == head_revision()
        if store.dialect == "sqlite":
            mode = await store.scalar(text("PRAGMA journal_mode"))
            assert mode == "wal"
    finally:
        await store.close()


async def test_a_failed_numbered_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    """The numbered migrations still convert pre-Alembic files (hub/db/migrate.py)."""
    bad = ["CREATE TABLE half_done (id TEXT); CREATE TABLE half_done (id TEXT);"]
    async with aiosqlite.connect(tmp_path / "old.db", isolation_level=None) as db:
        with pytest.raises(aiosqlite.OperationalError):
            await apply_migrations(db, "broken", bad)
        async with db.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'") as cur:
            assert await cur.fetchall() == []
        assert not db.in_transaction


async def test_same_envelope_twice_is_stored_once(store: Store, recorder: Recorder) -> None:
    hb = heartbeat(ts=T0)
    await recorder.record([accepted(hb), accepted(hb)])  # twice in one batch
    await recorder.record([accepted(hb, at=later(5))])  # and again later (QoS 1 redelivery)
    counts = await store.counts()
    assert counts["events"] == 1
    assert counts["duplicates"] == 2
    [row] = await store.events()
    assert row["id"] == hb.id and row["received_at"] == iso(T0)  # the first copy wins


async def test_rules_run_only_for_new_events(store: Store, recorder: Recorder) -> None:
    refused = decision("浙HX9999", "refuse", "blacklisted")
    for _ in range(3):
        await recorder.record([accepted(refused)])
    assert (await store.counts())["violations"] == 1


async def test_events_keep_their_indexed_columns(store: Store, recorder: Recorder) -> None:
    msgs = [
        plate_read("浙HA1234"),
        decision("浙HA1234", "open", "resident"),
        decision("浙HZ0001", "refuse", "unknown"),
    ]
    await recorder.record([accepted(m) for m in msgs])
    rows = {r["id"]: r for r in await store.events()}
    read, opened, refused = (rows[m.id] for m in msgs)
    assert (read["kind"], read["plate"], read["gate"]) == ("plate_read", "浙HA1234", NORTH_GATE)
    assert (opened["decision"], opened["plate"]) == ("open", "浙HA1234")
    assert refused["decision"] == "refuse"
    assert opened["ts"] == iso(msgs[1].ts)


async def test_counts_for_the_summary(store: Store, recorder: Recorder) -> None:
    batch = [
        accepted(decision("浙HA1234", "open", "resident")),
        accepted(decision("浙HB5678", "open", "resident")),
        accepted(decision("浙HX9999", "refuse", "blacklisted")),
        accepted(decision("浙HZ0001", "refuse", "unknown")),
        accepted(heartbeat()),
        Rejected("anju/x", "payload: nonsense", T0, 3, "abc"),
    ]
    await recorder.record(batch)
    counts = await store.counts()
    assert counts["events"] == 5
    assert counts["gate_opens"] == 2
    assert counts["gate_refusals"] == 2
    assert counts["violations"] == 2  # blacklisted + unknown
    assert counts["rejected"] == 1
    [rej] = await store.rejected()
    assert (rej["topic"], rej["reason"]) == ("anju/x", "payload: nonsense")
    assert rej["payload_head"] == "abc"


async def test_violation_records_company_and_evidence(store: Store, recorder: Recorder) -> None:
    read = plate_read("浙HX9999")
    refused = decision("浙HX9999", "refuse", "blacklisted", source_event=read.id, ts=T0)
    await recorder.record([accepted(read), accepted(refused)])
    [v] = await store.violations()
    assert v["type"] == "blacklisted_vehicle"
    assert v["severity"] == "critical"
    assert v["company"] == "greenleaf-pm"
    assert v["status"] == "open"
    assert v["opened_at"] == iso(T0)
    assert v["evidence"] == [refused.id, read.id]
    audit = await store.audit_log(target_prefix=f"violation/{v['id']}")
    assert [a["action"] for a in audit] == ["violation.open"]
    assert audit[0]["after"]["subject"] == "浙HX9999"


async def test_alarm_becomes_a_violation(store: Store, recorder: Recorder) -> None:
    await recorder.record([accepted(alarm("gate_fault", severity="critical"))])
    [v] = await store.violations()
    assert (v["type"], v["category"], v["severity"]) == ("gate_fault", "service", "critical")


async def test_device_offline_open_once_and_resolve(store: Store, recorder: Recorder) -> None:
    key = offline_key(SITE, NORTH)
    await recorder.record([accepted(heartbeat(ts=T0), at=T0)])
    lwt = status(False, reason="connection lost", ts=T0)  # the will was registered at T0
    await recorder.record([accepted(lwt, at=later(10))])
    [dev] = [d for d in await store.devices() if d["device"] == NORTH]
    assert dev["online"] == 0 and dev["offline_since"] == iso(later(10))
    assert dev["last_seen"] == iso(T0)

    async def north_offline(status: str | None = None) -> list[dict]:
        rows = await store.violations(type="device_offline", status=status)
        return [v for v in rows if v["device"] == NORTH]

    # within the limit (30 s) nothing opens; beyond it exactly one violation, however often
    await recorder.check_silence(watching_since=T0, now=later(39))
    assert await north_offline() == []
    await recorder.check_silence(watching_since=T0, now=later(41))
    await recorder.check_silence(watching_since=T0, now=later(400))
    await recorder.record([accepted(status(False, ts=later(50)), at=later(50))])
    [v] = await north_offline()
    assert v["status"] == "open" and v["open_key"] == key and v["company"] == "greenleaf-pm"
    assert "reported offline" in v["detail"]

    back = status(True, reason="connected", ts=later(60))
    await recorder.record([accepted(back, at=later(60))])
    [v] = await north_offline()
    assert v["status"] == "resolved" and v["closed_at"] == iso(later(60))
    assert back.id in v["evidence"]
    [dev] = [d for d in await store.devices() if d["device"] == NORTH]
    assert dev["online"] == 1 and dev["offline_since"] is None
    audit = await store.audit_log(target_prefix=f"violation/{v['id']}")
    assert [a["action"] for a in audit] == ["violation.open", "violation.resolve"]

    # offline again later: a second, new violation
    await recorder.record([accepted(status(False, ts=later(70)), at=later(70))])
    await recorder.check_silence(watching_since=T0, now=later(101))
    assert len(await north_offline("open")) == 1
    assert len(await north_offline()) == 2


async def test_silent_devices_open_after_restart(store: Store, recorder: Recorder) -> None:
    await recorder.record([accepted(heartbeat(device=EAST, ts=T0), at=T0)])
    # every configured edge is known from the start, heard from or not
    assert {d["device"] for d in await store.devices()} == {
        "edge-north",
        "edge-south",
        "edge-east",
        "edge-carpark",
    }
    assert await recorder.check_silence(watching_since=T0, now=later(31)) == 4
    # a new recorder (hub restart) knows what is still open
    again = Recorder(store, [lakeside(device_offline_after_s=30)])
    await again.load()
    assert await again.check_silence(watching_since=T0, now=later(100)) == 0
    assert (await store.counts())["devices_offline"] == 4


async def test_one_bad_item_does_not_sink_its_batch(store: Store, recorder: Recorder) -> None:
    # a message from a site the recorder has no config for makes the rules fail: the batch
    # is retried item by item; the bad one is a valid event, so it is stored without its
    # rules (not turned into a reject), and the rest are stored with theirs
    from models.messages import Kind, make_message

    stranger = make_message(
        Kind.HEARTBEAT, site="hillside", device=NORTH, payload={"uptime_s": 1, "outbox_pending": 0}
    )
    good = [heartbeat(), decision("浙HX9999", "refuse", "blacklisted")]
    done = await recorder.record([accepted(good[0]), accepted(stranger), accepted(good[1])])
    counts = await store.counts()
    assert counts["events"] == 3 and counts["violations"] == 1 and counts["rejected"] == 0
    assert done.rules_skipped == 1 and len(done.new) == 3
    assert await store.rejected() == []


async def test_ack_from_another_device_is_not_accepted(store: Store, recorder: Recorder) -> None:
    row = {
        "id": "cmd-00000001",
        "site": SITE,
        "device": NORTH,
        "gate": NORTH_GATE,
        "action": "open",
        "reason": "test run",
        "operator": "guard1",
        "sent_at": iso(T0),
        "expires_at": iso(later(10)),
        "status": "sent",
    }
    async with store.transaction():
        await store.insert_command(row, at=T0)
    await recorder.record([accepted(ack("cmd-00000001", device=EAST))])
    assert (await store.command("cmd-00000001"))["status"] == "sent"
    assert (await store.counts())["unmatched_acks"] == 1
    await recorder.record([accepted(ack("cmd-00000001", result="rejected"))])
    cmd = await store.command("cmd-00000001")
    assert (cmd["status"], cmd["ack_result"]) == ("acknowledged", "rejected")
    actions = [a["action"] for a in await store.audit_log(target_prefix="gate/")]
    assert actions == ["gate_command.sent", "gate_command.acknowledged"]


async def test_batch_writer_groups_rows_and_flushes_quickly() -> None:
    sizes: list[int] = []

    async def handle(batch: list[int]) -> None:
        sizes.append(len(batch))

    writer: BatchWriter[int] = BatchWriter(handle, max_rows=100, max_delay_s=0.05)
    writer.start()
    for i in range(250):
        writer.put_nowait(i)
    await writer.flush()
    assert sizes == [100, 100, 50]
    started = time.monotonic()
    writer.put_nowait(1)  # a lone message does not wait for company
    await writer.flush()
    assert time.monotonic() - started < 0.05
    await writer.stop()
    assert writer.items == 251 and writer.batches == 4


async def test_batch_writer_survives_a_failing_handler() -> None:
    seen: list[list[int]] = []

    async def handle(batch: list[int]) -> None:
        seen.append(batch)
        if 13 in batch:
            raise RuntimeError("disk full")

    writer: BatchWriter[int] = BatchWriter(handle, max_rows=5)
    writer.start()
    for i in range(10, 20):
        writer.put_nowait(i)
    await writer.flush()
    await writer.stop()
    assert seen == [[10, 11, 12, 13, 14], [15, 16, 17, 18, 19]]
    assert writer.failures == 1


async def test_recorder_through_the_writer_commits_in_batches(
    store: Store, recorder: Recorder
) -> None:
    writer: BatchWriter[Accepted] = BatchWriter(recorder.record, max_rows=100)
    writer.start()
    for _ in range(250):
        writer.put_nowait(accepted(heartbeat()))
    await writer.flush()
    await writer.stop()
    assert writer.batches == 3
    assert (await store.counts())["events"] == 250


async def test_reader_sees_only_committed_rows(store: Store, recorder: Recorder) -> None:
    async with store.transaction():
        await store.insert_events([accepted(heartbeat())])
        assert (await store.counts())["events"] == 0  # still inside the transaction
    assert (await store.counts())["events"] == 1


async def test_a_transaction_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction():
            await store.insert_events([accepted(heartbeat())])
            raise RuntimeError("boom")
    assert (await store.counts())["events"] == 0
    # and the store is still usable
    async with store.transaction():
        await store.insert_events([accepted(heartbeat())])
    assert (await store.counts())["events"] == 1


async def test_concurrent_transactions_do_not_interleave(store: Store) -> None:
    async def writer(n: int) -> None:
        for _ in range(n):
            async with store.transaction():
                await store.insert_events([accepted(heartbeat())])
                await asyncio.sleep(0)

    await asyncio.gather(writer(20), writer(20))
    assert (await store.counts())["events"] == 40


async def test_watchdog_racing_a_batch_loses_no_open_violation(
    store: Store, recorder: Recorder
) -> None:
    # the watchdog takes the lock first; the batch waits for it and must not write back
    # a stale set of open violations (the device's next message would then not resolve it)
    await asyncio.gather(
        recorder.check_silence(watching_since=T0, now=later(31)),
        recorder.record([accepted(heartbeat(device=EAST), at=later(31))]),
    )
    await recorder.record([accepted(heartbeat(device=NORTH, ts=later(40)), at=later(40))])
    north = [v for v in await store.violations(type="device_offline") if v["device"] == NORTH]
    assert [v["status"] for v in north] == ["resolved"]


async def test_commands_left_sent_are_expired(store: Store) -> None:
    base = {
        "site": SITE,
        "device": NORTH,
        "gate": NORTH_GATE,
        "action": "open",
        "reason": "test run",
        "operator": "guard1",
        "sent_at": iso(T0),
        "status": "sent",
    }
    async with store.transaction():
        await store.insert_command({**base, "id": "old-cmd-1", "expires_at": iso(later(10))}, at=T0)
        await store.insert_command({**base, "id": "new-cmd-1", "expires_at": iso(later(99))}, at=T0)
    async with store.transaction():
        assert await store.expire_commands(later(20), actor="hub") == ["old-cmd-1"]
    assert (await store.command("old-cmd-1"))["status"] == "timeout"
    assert (await store.command("new-cmd-1"))["status"] == "sent"
    actions = [a["action"] for a in await store.audit_log(target_prefix="gate/")]
    assert actions == ["gate_command.sent", "gate_command.sent", "gate_command.timeout"]


def test_reject_budget_per_key_and_window() -> None:
    budget = RejectBudget(per_key=2, per_window=3, window_s=10)
    a, b, c = ("s", "d1", "not_json"), ("s", "d2", "not_json"), ("s", "d1", "oversize")
    assert [budget.take(a, 100.0) for _ in range(3)] == [True, True, False]  # per key
    assert budget.take(b, 100.0) is True
    assert budget.take(c, 100.0) is False  # the window's total of 3 is used up
    assert budget.take(b, 109.9) is False
    assert budget.take(a, 110.0) is True  # a new window


async def test_every_reject_is_counted_only_samples_are_stored(store: Store) -> None:
    recorder = Recorder(store, [lakeside()], reject_budget=RejectBudget(per_key=5))
    await recorder.load()
    garbage = [Rejected(f"anju/{SITE}/{NORTH}/events/x", f"bad {i}", T0, 1, "x") for i in range(12)]
    await recorder.record(garbage)
    counts = await store.counts()
    assert counts["rejected"] == 12 and counts["rejected_unstored"] == 7
    assert len(await store.rejected()) == 5
    [row] = await store.reject_counts()
    assert (row["site"], row["device"], row["reason"], row["count"]) == (SITE, NORTH, "other", 12)
    assert row["last_minute"] == "2026-11-27T08:00"


def test_sqlite_store_implements_the_storage_interface() -> None:
    wanted = {n for n, v in vars(HubStore).items() if callable(v) and not n.startswith("_")}
    wanted |= set(HubStore.__annotations__)
    assert wanted - set(dir(Store)) - {"path"} == set()
    assert {"insert_events", "transaction", "counts"} <= wanted
