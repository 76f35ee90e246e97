"""Bounded retention on the hub: cut-offs (pure), the store's purges on a real SQLite file,
config errors, the `anju retention run` command, and erasure of lapsed face consents."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from hub.pedestrian_gate.store import FaceStore
from hub.recorder import Recorder
from hub.rejects import minute_of
from hub.retention.job import run_retention
from hub.retention.plan import cutoffs, is_evidence_key, lapsed_persons, plan, rejected_cutoff
from hub.rules import OpenViolation, ViolationType
from hub.store import Store, iso
from hub.validate import Accepted, Rejected
from models.face_bundle import FaceCipher, generate_key, parse_key
from models.messages import EnvelopeBase, Kind, Severity
from models.site import EXAMPLE_SITE, ConfigError, Retention, SiteConfig, load_site_config
from tests.support import NORTH, SITE, heartbeat, message, plate_read, topic_for

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CROP = base64.b64encode(b"\xff\xd8\xff\xe0 a tiny jpeg \xff\xd9").decode()


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


# ---------------------------------------------------------------------------- pure cut-offs


def test_cutoffs_follow_the_config() -> None:
    cut = cutoffs(SITE, Retention(), NOW)
    assert cut.evidence == NOW - timedelta(days=30)
    assert cut.violation_evidence == NOW - timedelta(days=180)
    assert cut.events == NOW - timedelta(days=400)
    assert cut.consent == NOW
    custom = Retention(evidence_days=7, evidence_days_violation=7, events_days=90,
                       face_consent_grace_days=14)  # fmt: skip
    cut = cutoffs(SITE, custom, NOW)
    assert (cut.evidence, cut.violation_evidence) == (days_ago(7), days_ago(7))
    assert (cut.events, cut.consent) == (days_ago(90), days_ago(14))
    with pytest.raises(ValueError, match="timezone"):
        cutoffs(SITE, Retention(), NOW.replace(tzinfo=None))


def test_rejects_follow_the_shortest_site_setting() -> None:
    short, long = Retention(rejected_days=3), Retention(rejected_days=60)
    assert rejected_cutoff([long, short], NOW) == days_ago(3)
    with pytest.raises(ValueError):
        rejected_cutoff([], NOW)
    site = load_site_config()
    other = site.model_copy(
        update={"site": site.site.model_copy(update={"id": "hillside"}), "retention": short}
    )
    the_plan = plan([site, other], NOW)
    assert [c.site for c in the_plan.sites] == [SITE, "hillside"]
    assert the_plan.rejected == days_ago(3)


def test_a_person_lapses_only_when_every_consent_expired() -> None:
    expiries = {
        "both-expired": [days_ago(40), days_ago(2)],
        "one-still-valid": [days_ago(40), NOW + timedelta(days=1)],
        "expires-exactly-now": [NOW],
        "no-consent-record": [],
    }
    assert lapsed_persons(expiries, NOW) == ["both-expired", "no-consent-record"]
    assert lapsed_persons(expiries, days_ago(5)) == ["no-consent-record"]


def test_evidence_keys() -> None:
    assert is_evidence_key("crop_jpeg_b64") and is_evidence_key("face_jpeg_b64")
    assert not is_evidence_key("crop_jpeg") and not is_evidence_key("CROP_JPEG_B64x")
    assert not is_evidence_key(3)


# ---------------------------------------------------------------------------- config


def _write_site(tmp_path: Path, retention: dict[str, Any] | None) -> Path:
    data = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    data.pop("retention", None)
    if retention is not None:
        data["retention"] = retention
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_example_site_spells_out_the_defaults(tmp_path: Path) -> None:
    assert load_site_config().retention == Retention()
    assert load_site_config(_write_site(tmp_path, None)).retention == Retention()  # optional


@pytest.mark.parametrize(
    ("retention", "expected"),
    [
        ({"evidence_days": 0}, "retention.evidence_days: Input should be greater than"),
        ({"events_days": "long"}, "retention.events_days: Input should be a valid integer"),
        ({"keep_forever": True}, "retention.keep_forever: unknown key"),
        ({"face_consent_grace_days": -1}, "retention.face_consent_grace_days"),
        (
            {"evidence_days": 200},
            "retention: evidence_days_violation (180) must be at least evidence_days (200)",
        ),
        (
            {"events_days": 100},
            "retention: events_days (100) must be at least evidence_days_violation (180)",
        ),
    ],
)
def test_config_errors_name_the_file_and_key(
    tmp_path: Path, retention: dict[str, Any], expected: str
) -> None:
    path = _write_site(tmp_path, retention)
    with pytest.raises(ConfigError) as err:
        load_site_config(path)
    assert f"{path}: {expected}" in str(err.value)


# ---------------------------------------------------------------------------- store purges


def accepted(msg: EnvelopeBase, at: datetime) -> Accepted:
    return Accepted(msg, topic_for(msg), at)


def plate(days: float, crop: str | None = CROP) -> EnvelopeBase:
    msg = plate_read(ts=days_ago(days))
    if crop is None:
        return msg
    payload = msg.payload.model_copy(update={"crop_jpeg_b64": crop})  # type: ignore[attr-defined]
    return msg.model_copy(update={"payload": payload})


def slot(days: float) -> EnvelopeBase:
    payload = {
        "slot": "F01",
        "occupied": True,
        "since": days_ago(days).isoformat(),
        "source": "camera",
        "plate": "浙HX9999",
        "crop_jpeg_b64": CROP,
    }
    return message(Kind.SLOT_STATE, payload, device="edge-carpark", ts=days_ago(days))


async def insert(store: Store, *messages: EnvelopeBase) -> list[str]:
    async with store.transaction():
        await store.insert_events([accepted(m, m.ts) for m in messages])
    return [m.id for m in messages]


async def insert_raw_alarm(store: Store, event_id: str, days: float) -> None:
    """An alarm payload as the face-alarm work will send it, plus a nested snapshot: any key
    ending in _jpeg_b64, at any depth, is evidence."""
    payload = {
        "type": "blacklisted_person",
        "gate": "east-pedestrian",
        "crop_jpeg_b64": CROP,
        "faces": [{"box": [1, 2, 3, 4], "face_jpeg_b64": CROP}],
        "detail": "mentions crop_jpeg_b64 in text",
    }
    async with store.transaction():
        await store.db.execute(
            "INSERT INTO events (id, site, device, kind, ts, received_at, topic, payload)"
            " VALUES (?, ?, 'edge-east', 'alarm', ?, ?, 'anju/lakeside/edge-east/event/alarm', ?)",
            (event_id, SITE, iso(days_ago(days)), iso(days_ago(days)), json.dumps(payload)),
        )


async def violation(store: Store, *evidence: str) -> str:
    opened = OpenViolation(
        type=ViolationType.BLACKLISTED_VEHICLE,
        severity=Severity.CRITICAL,
        site=SITE,
        device=NORTH,
        gate="north-vehicle",
        subject="浙HX9999",
        at=days_ago(500),
        detail="test",
        evidence=evidence,
    )
    async with store.transaction():
        vid = await store.open_violation(opened, company="greenleaf-pm")
    assert vid is not None
    return vid


async def payloads(store: Store) -> dict[str, dict[str, Any]]:
    rows = await store.rows(text("SELECT id, payload FROM events"))
    return {r["id"]: json.loads(r["payload"]) for r in rows}


async def purged_marks(store: Store) -> dict[str, str | None]:
    rows = await store.rows(text("SELECT id, evidence_purged_at FROM events"))
    return {r["id"]: r["evidence_purged_at"] for r in rows}


def dump(db: Path) -> list[Any]:
    """Everything in the database file, table by table (to prove a dry run wrote nothing)."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]
        schema = list(conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name"))
        return [schema] + [
            sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"')))
            for t in tables
            if t in {"events", "rejected", "audit_log", "violations", "schema_version"}
        ]


@pytest.fixture
async def store(tmp_path: Path):
    store = await Store.open(tmp_path)
    yield store
    await store.close()


@pytest.fixture
async def populated(store: Store) -> dict[str, str]:
    """Events of several kinds and ages; some are a violation's evidence."""
    ids = {}
    for name, msg in {
        "fresh": plate(10),
        "old": plate(40),
        "old_no_crop": plate(40, crop=None),
        "old_slot": slot(45),
        "evidence_40": plate(40),
        "evidence_200": plate(200),
        "evidence_500": plate(500),
        "ancient": plate(500),
        "ancient_heartbeat": heartbeat(ts=days_ago(450)),
        "heartbeat_100": heartbeat(ts=days_ago(100)),
    }.items():
        await insert(store, msg)
        ids[name] = msg.id
    ids["old_alarm"] = "alarm-with-nested-snapshots"
    await insert_raw_alarm(store, ids["old_alarm"], 35)
    await violation(store, ids["evidence_40"], ids["evidence_200"])
    await violation(store, ids["evidence_500"])
    async with store.transaction():
        await store.insert_rejected(
            [
                Rejected("anju/x/y/event/z", "bad", days_ago(31), 10, "{..."),
                Rejected("anju/x/y/event/z", "bad", days_ago(2), 10, "{..."),
            ]
        )
        await store.add_reject_counts(
            {
                (SITE, "edge-a", "invalid_json", minute_of(days_ago(31))): 7,
                (SITE, "edge-a", "invalid_json", minute_of(days_ago(2))): 3,
            }
        )
    return ids


EXPECTED = {
    "events_deleted": 2,  # ancient, ancient_heartbeat
    "evidence_stripped": 3,  # old, old_slot, old_alarm
    "violation_evidence_stripped": 2,  # evidence_200, evidence_500
    "faces_erased": [],
}


async def test_purge_strips_deletes_keeps_evidence_and_audits(
    store: Store, populated: dict[str, str]
) -> None:
    site = load_site_config()
    report = await run_retention(store, [site], now=NOW)
    counts = {k: v for k, v in report["sites"][SITE].items() if k != "cutoffs"}
    assert counts == EXPECTED
    assert report["rejected_deleted"] == 1
    # the per-minute counts age out with the rejects; the young minute is still counted
    assert report["reject_counts_deleted"] == 1
    assert [r["count"] for r in await store.reject_counts()] == [3]

    rows = await payloads(store)
    ids = populated
    assert ids["ancient"] not in rows and ids["ancient_heartbeat"] not in rows
    assert ids["evidence_500"] in rows  # a violation's evidence is never deleted
    assert ids["heartbeat_100"] in rows
    for kept in ("fresh", "evidence_40"):  # young, or young enough for violation evidence
        assert rows[ids[kept]]["crop_jpeg_b64"] == CROP
    for gone in ("old", "old_slot", "evidence_200", "evidence_500"):
        assert "crop_jpeg_b64" not in rows[ids[gone]]
    alarm = rows[ids["old_alarm"]]
    assert "crop_jpeg_b64" not in alarm and "face_jpeg_b64" not in alarm["faces"][0]
    assert alarm["faces"][0]["box"] == [1, 2, 3, 4] and alarm["detail"].startswith("mentions")
    assert rows[ids["old"]]["plate"] == "浙HA1234"  # the rest of the payload is untouched
    assert rows[ids["old_no_crop"]]["crop_jpeg_b64"] is None  # nothing to strip: as it was

    marks = await purged_marks(store)
    stripped = {ids[n] for n in ("old", "old_slot", "old_alarm", "evidence_200", "evidence_500")}
    assert {i for i, at in marks.items() if at} == stripped
    assert marks[ids["old"]] == iso(NOW)
    assert marks[ids["old_no_crop"]] is None  # nothing to purge: not marked

    assert len(await store.rejected()) == 1
    assert len(await store.violations()) == 2  # violations are never purged
    audit = [a for a in await store.audit_log() if a["actor"] == "retention"]
    assert len(audit) == 1 and audit[0]["action"] == "retention.purge"
    assert audit[0]["after"]["totals"] == {
        "events_deleted": 2,
        "evidence_stripped": 5,
        "faces_erased": 0,
        "rejected_deleted": 1,
    }

    # The stripped payloads still satisfy their contracts: a restarted hub re-reads its
    # slot states (Recorder.load) without tripping over them.
    recorder = Recorder(store, [site])
    await recorder.load()

    again = await run_retention(store, [site], now=NOW + timedelta(minutes=1))
    assert again["totals"] == dict.fromkeys(again["totals"], 0)
    assert await payloads(store) == rows and await purged_marks(store) == marks
    audit = [a for a in await store.audit_log() if a["actor"] == "retention"]
    assert len(audit) == 2  # one entry per run, even an empty one


async def test_dry_run_counts_the_same_and_changes_nothing(
    store: Store, populated: dict[str, str]
) -> None:
    site = load_site_config()
    before = dump(store.path)
    preview = await run_retention(store, [site], now=NOW, dry_run=True)
    assert dump(store.path) == before
    report = await run_retention(store, [site], now=NOW)
    assert dump(store.path) != before
    for key in ("sites", "totals", "rejected_deleted"):
        assert preview[key] == report[key]
    assert preview["dry_run"] and not report["dry_run"]


async def test_small_batches_give_the_same_result(store: Store) -> None:
    old = [plate(40 + i) for i in range(7)]
    ancient = [heartbeat(ts=days_ago(401 + i)) for i in range(5)]
    await insert(store, *old, *ancient, plate(5))
    report = await run_retention(store, [load_site_config()], now=NOW, batch=2)
    assert report["totals"]["events_deleted"] == 5
    assert report["totals"]["evidence_stripped"] == 7
    rows = await payloads(store)
    assert len(rows) == 8
    assert [p["plate"] for p in rows.values() if p.get("crop_jpeg_b64")] == ["浙HA1234"]


async def test_ingest_gets_in_between_purge_batches(store: Store) -> None:
    """A purge of many rows is many short transactions: an ingest batch waiting for the
    store's lock is committed long before the purge ends."""
    many = [heartbeat(ts=days_ago(401), id=f"old-{i:05d}") for i in range(3000)]
    for start in range(0, len(many), 500):
        await insert(store, *many[start : start + 500])

    async def left() -> int:
        return await store.scalar(text("SELECT count(*) FROM events WHERE id LIKE 'old-%'"))

    purge = asyncio.create_task(run_retention(store, [load_site_config()], now=NOW, batch=50))
    while await left() == len(many):  # until the first deletions are committed
        await asyncio.sleep(0.001)
    new = heartbeat()
    await insert(store, new)
    assert await left() > 0  # the ingest batch committed while the purge was still deleting
    report = await purge
    assert report["totals"]["events_deleted"] == 3000
    assert new.id in await payloads(store)


# ---------------------------------------------------------------------------- the command


def run_cli(*args: str) -> Any:
    from anju_cli.main import app

    return CliRunner().invoke(app, ["retention", "run", *args])


async def test_command_on_a_real_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = await Store.open(data)
    # relative to the real clock: the command purges as of now
    now = datetime.now(UTC)
    old = plate(0).model_copy(update={"ts": now - timedelta(days=45)})
    fresh = plate(0).model_copy(update={"ts": now - timedelta(days=1)})
    ancient = heartbeat(ts=now - timedelta(days=401))
    await insert(store, old, fresh, ancient)
    await store.close()
    before = dump(data / "hub.db")

    dry = await asyncio.to_thread(run_cli, "--dry-run", "--data-dir", str(data), str(EXAMPLE_SITE))
    assert dry.exit_code == 0, dry.output
    preview = json.loads(dry.output)
    assert preview["dry_run"] is True
    assert preview["totals"] == {
        "events_deleted": 1,
        "evidence_stripped": 1,
        "faces_erased": 0,
        "rejected_deleted": 0,
    }
    assert dump(data / "hub.db") == before

    done = await asyncio.to_thread(run_cli, "--data", str(data), str(EXAMPLE_SITE))
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["totals"] == preview["totals"]
    store = await Store.open(data)
    try:
        rows = await payloads(store)
        assert set(rows) == {old.id, fresh.id}
        assert "crop_jpeg_b64" not in rows[old.id] and rows[fresh.id]["crop_jpeg_b64"] == CROP
        audit = [a for a in await store.audit_log() if a["actor"] == "retention"]
        assert [a["after"]["totals"] for a in audit] == [preview["totals"]]
    finally:
        await store.close()


def test_command_errors(tmp_path: Path) -> None:
    missing = run_cli("--data-dir", str(tmp_path / "nowhere"), str(EXAMPLE_SITE))
    assert missing.exit_code == 2 and "no hub database" in missing.output
    assert not (tmp_path / "nowhere").exists()  # nothing created
    bad = _write_site(tmp_path, {"rejected_days": 0})
    result = run_cli("--data-dir", str(tmp_path), str(bad))
    assert result.exit_code == 2 and "retention.rejected_days" in result.output


# ---------------------------------------------------------------------------- face consents


def vectors(seed: int, n: int = 2) -> list[np.ndarray]:
    v = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return list(v / np.linalg.norm(v, axis=1, keepdims=True))


def enroll(db: Path, key: bytes, person: str, *, given: datetime, expires: datetime) -> None:
    with FaceStore(db, FaceCipher(key)) as faces:
        faces.enroll(
            site=SITE,
            person=person,
            role="resident",
            encodings=vectors(len(person)),
            consent_by=person,
            purpose="gate access",
            expires_at=expires,
            now=given,
        )


def with_retention(**settings: int) -> SiteConfig:
    site = load_site_config()
    return site.model_copy(update={"retention": Retention(**settings)})


async def test_lapsed_consent_erases_the_person_like_face_delete(store: Store) -> None:
    key = parse_key(generate_key())
    db = store.path
    enroll(db, key, "lapsed", given=days_ago(400), expires=days_ago(10))
    enroll(db, key, "renewed", given=days_ago(400), expires=days_ago(10))
    enroll(db, key, "renewed", given=days_ago(20), expires=NOW + timedelta(days=300))
    enroll(db, key, "valid", given=days_ago(5), expires=NOW + timedelta(days=30))
    with FaceStore(db, None) as faces:
        version = faces.version(SITE)

    grace = await run_retention(store, [with_retention(face_consent_grace_days=30)], now=NOW)
    assert grace["sites"][SITE]["faces_erased"] == []  # lapsed 10 days ago: within the grace

    preview = await run_retention(store, [with_retention()], now=NOW, dry_run=True)
    assert preview["sites"][SITE]["faces_erased"] == ["lapsed"]
    with FaceStore(db, FaceCipher(key)) as faces:
        assert len(faces.persons(SITE)) == 3 and faces.version(SITE) == version

    report = await run_retention(store, [with_retention()], now=NOW)
    assert report["sites"][SITE]["faces_erased"] == ["lapsed"]
    with FaceStore(db, FaceCipher(key)) as faces:
        assert [p for p, _, _ in faces.persons(SITE)] == ["renewed", "valid"]
        assert faces.encodings("lapsed").shape == (0, 128) and faces.consents("lapsed") == []
        erasure = faces.erasures("lapsed")[0]
        assert (erasure.operator, erasure.reason) == ("retention", "consent expired")
        assert erasure.encodings_erased == 2 and erasure.consents_erased == 1
        assert faces.version(SITE) == version + 1  # edges get a bundle without the person
    with sqlite3.connect(db) as conn:
        left = conn.execute("SELECT count(*) FROM face_encodings WHERE person = 'lapsed'")
        assert left.fetchone()[0] == 0
    audit = [a for a in await store.audit_log() if a["actor"] == "retention"]
    assert audit[-1]["after"]["sites"][SITE]["faces_erased"] == ["lapsed"]

    again = await run_retention(store, [with_retention()], now=NOW)
    assert again["sites"][SITE]["faces_erased"] == []


async def test_no_enrolled_faces_nothing_erased_nothing_written(store: Store) -> None:
    # the face tables are part of the one schema (hub/db/tables.py), empty until enrolment
    for dry_run in (True, False):
        report = await run_retention(store, [load_site_config()], now=NOW, dry_run=dry_run)
        assert report["sites"][SITE]["faces_erased"] == []
    with sqlite3.connect(store.path) as conn:
        for table in ("face_sites", "face_persons", "face_erasures"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


async def test_the_periodic_job_runs_first_soon_then_on_its_interval(store: Store) -> None:
    from hub.retention.job import start_retention, stop_retention

    await insert(store, heartbeat(ts=datetime.now(UTC) - timedelta(days=401)))
    task = start_retention(store, [load_site_config()], every_s=0.05, first_after_s=0.01)
    try:
        for _ in range(200):
            runs = [a for a in await store.audit_log() if a["actor"] == "retention"]
            if len(runs) >= 3:
                break
            await asyncio.sleep(0.02)
    finally:
        await stop_retention(task)
    assert len(runs) >= 3 and task.cancelled()
    assert [r["after"]["totals"]["events_deleted"] for r in runs[:2]] == [1, 0]
