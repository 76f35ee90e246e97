"""The on-disk outbox and the edge state store: order, persistence, bounds, dedupe."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.outbox import Outbox, OutboxLimits
from edge.store import EdgeStore
from models.messages import AckResult, ListedVehicle, VehicleList


def test_rows_keep_order_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    seqs = [box.add(f"t/{i}", f"m{i}".encode(), retain=(i == 2)) for i in range(5)]
    assert seqs == sorted(seqs)
    box.mark_delivered([seqs[1]])
    box.close()

    box = Outbox(path)  # a restarted process
    pending = box.pending()
    assert [r.payload for r in pending] == [b"m0", b"m2", b"m3", b"m4"]
    assert [r.retain for r in pending] == [False, True, False, False]
    assert box.pending_count() == 4
    # Paging with a cursor continues after the last row handed out, in order.
    first = box.pending(limit=2)
    rest = box.pending(after=first[-1].seq)
    assert [r.payload for r in first + rest] == [b"m0", b"m2", b"m3", b"m4"]
    box.mark_delivered(r.seq for r in first)
    box.mark_delivered([first[0].seq])  # a second PUBACK for the same row changes nothing
    stats = box.stats()
    assert (stats.pending, stats.delivered, stats.dropped) == (2, 3, 0)
    box.close()


def test_only_droppable_rows_are_dropped_and_drops_are_counted(tmp_path: Path) -> None:
    limits = OutboxLimits(droppable_max_pending=3, droppable_max_age_s=100, keep_delivered_s=50)
    box = Outbox(tmp_path / "o.db", limits)
    old = 1_000.0
    for i in range(3):
        box.add("hb", f"old{i}".encode(), droppable=True, now=old)
    for i in range(4):
        box.add("dec", f"decision{i}".encode(), now=old)  # never dropped, however old
    for i in range(5):
        box.add("hb", f"new{i}".encode(), droppable=True, now=old + 190)
    delivered = box.add("x", b"delivered", now=old)
    box.mark_delivered([delivered], now=old + 1)

    dropped = box.prune(now=old + 200)
    # 3 heartbeats too old, then 2 of the 5 recent ones over the cap (oldest first).
    assert dropped == 5
    payloads = [r.payload for r in box.pending()]
    decisions = [b"decision0", b"decision1", b"decision2", b"decision3"]
    assert payloads == [*decisions, b"new2", b"new3", b"new4"]
    stats = box.stats()
    assert stats.dropped == 5
    assert stats.delivered == 0  # the delivered row was older than keep_delivered_s
    assert box.prune(now=old + 200) == 0
    box.close()
    assert Outbox(tmp_path / "o.db").stats().dropped == 5  # the counter is on disk too


def test_store_keeps_only_lists_issued_later_across_reopen(tmp_path: Path) -> None:
    t1 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    t2, t3 = t1 + timedelta(seconds=1), t1 + timedelta(seconds=2)
    store = EdgeStore(tmp_path / "state.db")
    assert store.load_vehicle_list() is None and store.vehicle_list_issued() is None
    v2 = VehicleList(version=2, residents=[ListedVehicle(plate="浙HA1234")])
    v1 = VehicleList(version=1, blacklist=[ListedVehicle(plate="浙HX9999")])
    assert store.save_vehicle_list(v2, t2)
    assert not store.save_vehicle_list(v1, t1)
    assert not store.save_vehicle_list(v2, t2)
    # the version does not order lists: a huge one issued earlier is ignored
    assert not store.save_vehicle_list(VehicleList(version=2**62), t1)
    store.close()
    store = EdgeStore(tmp_path / "state.db")
    assert store.load_vehicle_list() == v2 and store.vehicle_list_issued() == t2
    # and a lower version issued later replaces it (the hub's clock decides)
    assert store.save_vehicle_list(VehicleList(version=1), t3)
    loaded = store.load_vehicle_list()
    assert loaded is not None and loaded.version == 1
    store.close()


def test_store_records_a_command_once(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "state.db")
    assert store.command_result("c1") is None
    assert store.record_command("c1", AckResult.DONE)
    assert not store.record_command("c1", AckResult.EXPIRED)
    store.close()
    store = EdgeStore(tmp_path / "state.db")
    assert store.command_result("c1") == (AckResult.DONE, "")
    store.close()


def test_an_outbox_from_an_older_agent_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
        " payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL,"
        " droppable INTEGER NOT NULL, created REAL NOT NULL, delivered_at REAL);"
        "INSERT INTO outbox (topic, payload, qos, retain, droppable, created)"
        " VALUES ('t', x'6f6c64', 1, 0, 0, 1.0);"
    )
    db.commit()
    db.close()
    box = Outbox(path)
    (row,) = box.pending()
    assert row.payload == b"old"
    box.mark_refused(row.seq, "Not authorized")
    assert box.stats().refused == 1 and box.pending_count() == 0
    box.close()


def test_the_bound_drops_oldest_heartbeats_never_events(tmp_path: Path) -> None:
    limits = OutboxLimits(max_pending_bytes=1000, droppable_max_pending=1000)
    box = Outbox(tmp_path / "o.db", limits)
    for i in range(5):
        box.add("hb", b"h%d" % i + b"." * 98, droppable=True)  # 100 bytes each
    for i in range(4):
        box.add("dec", b"d%d" % i + b"." * 98)
    assert box.stats().dropped == 0  # 900 bytes: under the bound
    box.add("dec", b"d4" + b"." * 198)  # 200 more: the oldest heartbeat makes room
    kept = [r.payload[:2] for r in box.pending()]
    assert kept == [b"h1", b"h2", b"h3", b"h4", b"d0", b"d1", b"d2", b"d3", b"d4"]
    assert (box.stats().dropped, box.stats().over_limit) == (1, 0)
    for i in range(5, 9):  # only events beyond the bound now: all kept, counted over it
        box.add("dec", b"d%d" % i + b"." * 298)
    kept = [r.payload[:2] for r in box.pending()]
    assert kept[-4:] == [b"d5", b"d6", b"d7", b"d8"] and b"h2" not in kept
    assert all(k.startswith(b"d") for k in kept)  # every heartbeat went, no event did
    stats = box.stats()
    assert (stats.dropped, stats.over_limit, stats.pending) == (5, 3, 9)
    box.close()


def test_add_many_is_one_ordered_transaction_and_depth_reports_the_oldest(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    assert box.depth(now=100.0) == (0, None, 0)
    seqs = box.add_many([("a", b"1", False), ("b", b"2", True), ("c", b"3", False)], now=50.0)
    assert seqs == sorted(seqs) and len(seqs) == 3
    assert [r.topic for r in box.pending()] == ["a", "b", "c"]
    assert [r.droppable for r in box.pending()] == [False, True, False]
    box.mark_delivered(seqs[:1])
    assert box.depth(now=100.0) == (2, 50.0, 0)
    assert box.stats(now=100.0).oldest_age_s == 50.0
    box.close()
