"""Residents' PINs and access cards: kept sealed in the hub's face store (real SQLite, real
AES-GCM), managed with `anju face credential`, and still in the gate directory the hub
publishes after a restart (real mosquitto, the edge's MqttBus and FaceSync; no dlib)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from typer.testing import CliRunner

from anju_cli.demo import without_credentials
from anju_cli.face import face_app
from anju_cli.main import app as anju_app
from edge.bus import MqttBus
from edge.interfaces import CardAttempt, PinAttempt
from edge.outbox import Outbox
from edge.pedestrian_gate.rules import decide_pedestrian
from edge.pedestrian_gate.sync import FaceSync
from hub.pedestrian_gate.store import FaceStore, StoreError
from hub.pedestrian_gate.sync import face_db, publish_faces, set_gate_credentials
from models import topics
from models.face_bundle import (
    KEY_ENV,
    FaceCipher,
    FaceKeyError,
    generate_key,
    open_bundle,
    parse_key,
)
from models.messages import Decision, DecisionReason
from models.site import EXAMPLE_SITE, load_site_config
from tests.mosquitto import MosquittoBroker
from tests.support import faces_hub

SITE = "lakeside"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
runner = CliRunner()


@pytest.fixture
def key() -> bytes:
    return parse_key(generate_key())


@pytest.fixture
def store(tmp_path: Path, key: bytes):
    with FaceStore(tmp_path / "hub.db", FaceCipher(key)) as s:
        yield s


def _enroll(store: FaceStore, person: str, role: str = "resident", site: str = SITE) -> int:
    return store.enroll(
        site=site,
        person=person,
        role=role,
        encodings=[np.random.default_rng(len(person)).normal(0, 0.1, 128).astype(np.float32)],
        consent_by=person,
        purpose="gate access",
        expires_at=datetime.now(UTC) + timedelta(days=30),
    )


def _set(store: FaceStore, person: str, *, site: str = SITE, **given: str) -> int:
    return store.set_credentials(site=site, person=person, operator="manager", now=NOW, **given)


def _db_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))


# ---------------------------------------------------------------- store rules


@pytest.mark.parametrize(
    "pin",
    ["1-101#12345", "1-101#123456789", "123456", "1-101#12a456", "1-101#12 3456", "",
     "1-101#١٢٣٤٥٦", "#123456", "1-101#1234"],
)  # fmt: skip
def test_a_pin_is_a_unit_and_6_to_8_ascii_digits(store: FaceStore, pin: str) -> None:
    with pytest.raises(StoreError, match="6 to 8 digits"):
        _set(store, "r1", pin=pin)
    assert store.version(SITE) == 0 and store.credentials(SITE) == []


def test_pins_and_cards_belong_to_one_person_and_replace_the_old_one(store: FaceStore) -> None:
    assert _set(store, "r1", pin="1-101#123400") == 1
    assert _set(store, "r1", pin="1-101#12345678", card="CARD-0001") == 2
    assert store.gate_credentials(SITE) == ({"1-101#12345678": "r1"}, {"CARD-0001": "r1"})
    with pytest.raises(StoreError, match="PIN is already in use") as refused:
        _set(store, "r2", pin="1-101#12345678")
    assert "r1" not in str(refused.value)  # would tell the operator r1's PIN
    with pytest.raises(StoreError, match="card 'CARD-0001' already belongs to 'r1'"):
        _set(store, "r2", card="CARD-0001")
    assert store.version(SITE) == 2  # refusals change nothing
    assert _set(store, "r2", pin="1-101#123400") == 3  # r1's old PIN is free again
    assert _set(store, "r1", pin="1-101#12345678") == 3  # the same PIN again: no new bundle
    with pytest.raises(StoreError, match="holds gate credentials at \\['lakeside'\\]"):
        _set(store, "r1", pin="1-101#555500", site="hillside")  # one person, one site
    pins, cards = store.gate_credentials(SITE)
    assert pins == {"1-101#12345678": "r1", "1-101#123400": "r2"} and cards == {"CARD-0001": "r1"}
    assert store.credentials(SITE) == [
        ("r1", "card", "CARD-0001"),
        ("r1", "pin", None),  # never the PIN in clear
        ("r2", "pin", None),
    ]
    assert [(c.person, c.kind, c.action, c.bundle_version) for c in store.credential_changes()] == [
        ("r1", "pin", "set", 1),
        ("r1", "pin", "set", 2),
        ("r1", "card", "set", 2),
        ("r2", "pin", "set", 3),
    ]


def test_same_pin_at_two_sites_and_who_may_hold_one(store: FaceStore) -> None:
    _set(store, "r1", pin="1-101#246800")
    assert _set(store, "h1", pin="1-101#246800", site="hillside") == 1  # unique per site only
    _enroll(store, "bad", role="blacklist")
    with pytest.raises(StoreError, match="on the blacklist"):
        _set(store, "bad", pin="1-101#999900")
    _enroll(store, "far", site="hillside")
    with pytest.raises(StoreError, match="enrolled at site 'hillside'"):
        _set(store, "far", card="C-9")
    with pytest.raises(StoreError, match="holds a PIN or card"):
        _enroll(store, "r1", role="blacklist")
    with pytest.raises(StoreError, match="card id"):
        _set(store, "r1", card="two words")
    with pytest.raises(StoreError, match="nothing to set"):
        _set(store, "r1")


def test_sealed_at_rest_and_bound_to_the_person(tmp_path: Path, key: bytes) -> None:
    db = tmp_path / "hub.db"
    with FaceStore(db, FaceCipher(key)) as store:
        _set(store, "r1", pin="1-101#73519204", card="CARD-5F3A9911")
        _set(store, "r2", pin="1-101#864200")
    files = _db_bytes(db)
    for secret in (b"73519204", b"864200", b"CARD-5F3A9911", b"5F3A9911"):
        assert secret not in files
    con = sqlite3.connect(db)
    columns = {c[1] for c in con.execute("PRAGMA table_info(face_credential_changes)")}
    assert not {"sealed", "pin", "card", "value"} & columns  # the change log names kinds only
    # A sealed PIN copied onto another person's row does not open as theirs.
    con.execute(
        "UPDATE face_credentials SET sealed = (SELECT sealed FROM face_credentials "
        "WHERE person = 'r1' AND kind = 'pin') WHERE person = 'r2' AND kind = 'pin'"
    )
    con.commit()
    con.close()
    with FaceStore(db, FaceCipher(key)) as store, pytest.raises(FaceKeyError):
        store.gate_credentials(SITE)
    with FaceStore(db, FaceCipher(parse_key(generate_key()))) as other, pytest.raises(FaceKeyError):
        other.credentials(SITE)  # another site's key opens nothing


def test_remove_bumps_the_version_and_says_when_there_is_nothing(store: FaceStore) -> None:
    _set(store, "r1", pin="1-101#135700", card="C-1")
    assert store.remove_credentials(site=SITE, person="r1", kinds=["pin"], operator="m") == 2
    assert store.gate_credentials(SITE) == ({}, {"C-1": "r1"})
    with pytest.raises(StoreError, match="'r1' has no pin at lakeside"):
        store.remove_credentials(site=SITE, person="r1", kinds=["pin"], operator="m")
    with pytest.raises(StoreError, match="which credentials"):
        store.remove_credentials(site=SITE, person="r1", kinds=[], operator="m")
    assert store.remove_credentials(site=SITE, person="r1", kinds=["pin", "card"], operator="m")
    assert store.gate_credentials(SITE) == ({}, {}) and store.version(SITE) == 3


def test_credential_holders_without_a_face_travel_as_residents(store: FaceStore) -> None:
    _enroll(store, "with-face")
    _set(store, "with-face", pin="1-101#111100")
    _set(store, "no-face", card="C-2")
    assert [p["id"] for p in store.export_bundle(SITE)["persons"]] == ["with-face"]
    bundle = open_bundle(store.cipher, store.export_sealed_bundle(SITE))
    assert [(p["id"], p["role"], len(p["encodings"])) for p in bundle["persons"]] == [
        ("with-face", "resident", 1),
        ("no-face", "resident", 0),
    ]
    export = store.gate_export(SITE)
    assert export.version == bundle["version"] == store.version(SITE) == 3
    assert (export.pins, export.cards) == ({"1-101#111100": "with-face"}, {"C-2": "no-face"})


def test_erasure_removes_credentials_with_or_without_a_face(tmp_path: Path, key: bytes) -> None:
    db = tmp_path / "hub.db"
    with FaceStore(db, FaceCipher(key)) as store:
        _enroll(store, "r1")
        _set(store, "r1", pin="1-101#24682468", card="CARD-R1-77")
        _set(store, "no-face", pin="1-101#975310")
        _set(store, "stays", pin="1-101#121200")
    with FaceStore(db, None) as store:  # erasure needs no key, as for faces
        erasure = store.delete("r1", operator="guard", now=NOW)
        assert (erasure.encodings_erased, erasure.credentials_erased) == (1, 2)
        assert erasure.bundle_version == 5
        only_pin = store.delete("no-face", operator="guard", reason="moved out", now=NOW)
        assert (only_pin.site, only_pin.encodings_erased, only_pin.credentials_erased) == (
            SITE,
            0,
            1,
        )
        with pytest.raises(StoreError, match="no enrolled person"):
            store.delete("no-face", operator="guard")
        assert [(e.person, e.credentials_erased) for e in store.erasures()] == [
            ("r1", 2),
            ("no-face", 1),
        ]
        erased = [c for c in store.credential_changes() if c.action == "erase"]
        assert {(c.person, c.kind) for c in erased} == {
            ("r1", "card"),
            ("r1", "pin"),
            ("no-face", "pin"),
        }
        assert all(c.operator == "guard" for c in erased)
    with FaceStore(db, FaceCipher(key)) as store:
        assert store.gate_credentials(SITE) == ({"1-101#121200": "stays"}, {})
        bundle = open_bundle(store.cipher, store.export_sealed_bundle(SITE))
        assert [p["id"] for p in bundle["persons"]] == ["stays"]


def test_a_lapsed_face_consent_erases_the_face_but_keeps_the_pin(
    tmp_path: Path, key: bytes
) -> None:
    """Retention erases a resident's face data when every consent has lapsed; their PIN and
    card are not biometric and stay, so they still have a way in."""
    from hub.retention.job import erase_lapsed_faces

    db = tmp_path / "hub.db"
    with FaceStore(db, FaceCipher(key)) as store:
        store.enroll(
            site=SITE,
            person="lapsed",
            role="resident",
            encodings=[np.ones(128, np.float32) * 0.05],
            consent_by="lapsed",
            purpose="gate access",
            expires_at=NOW + timedelta(days=1),
            now=NOW,
        )
        _set(store, "lapsed", pin="1-101#864200", card="C-LAPSED")
    later = NOW + timedelta(days=10)
    assert erase_lapsed_faces(db, SITE, later, later) == ["lapsed"]
    with FaceStore(db, FaceCipher(key)) as store:
        assert store.persons(SITE) == [] and store.encodings("lapsed").size == 0
        assert store.gate_credentials(SITE) == ({"1-101#864200": "lapsed"}, {"C-LAPSED": "lapsed"})
        [erasure] = store.erasures("lapsed")
        assert (erasure.encodings_erased, erasure.credentials_erased) == (1, 0)
        bundle = open_bundle(store.cipher, store.export_sealed_bundle(SITE))
        assert [(p["id"], p["role"], len(p["encodings"])) for p in bundle["persons"]] == [
            ("lapsed", "resident", 0)
        ]


# ---------------------------------------------------------------- CLI


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(KEY_ENV, generate_key())
    monkeypatch.delenv("ANJU_FACE_KEY_FILE", raising=False)
    return tmp_path / "hub.db"


def run(*args: str):
    return runner.invoke(face_app, list(args), catch_exceptions=False)


def test_cli_set_list_remove(cli_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = ("--site", SITE, "--db", str(cli_db))
    result = run("credential", "set", "--person", "r-7", "--unit", "1-101", "--pin", "482600", *db)
    assert result.exit_code == 0, result.output
    assert "face bundle version 1" in result.output and "482600" not in result.output
    result = run("credential", "set", "--person", "r-7", "--card", "04A1B2C3", "--by", "li", *db)
    assert result.exit_code == 0 and "version 2" in result.output, result.output
    result = run("credential", "set", "--person", "r-7", "--unit", "1-101", "--pin", "482600", *db)
    assert result.exit_code == 0 and "nothing changed" in result.output, result.output
    for args, error in [
        (("--person", "r-8", "--unit", "1-101", "--pin", "48"), "6 to 8 digits"),
        (("--person", "r-8", "--pin", "482600"), "--pin needs --unit"),
        (("--person", "r-8", "--unit", "1-101", "--pin", "482600"), "already in use"),
        (("--person", "r-8", "--card", "04A1B2C3"), "already belongs to 'r-7'"),
        (("--person", "r-8"), "give --pin, --card or both"),
    ]:
        result = run("credential", "set", *args, *db)
        assert result.exit_code == 1 and error in result.output, (args, result.output)

    result = run("credential", "list", *db)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "r-7\tcard\t04A1B2C3",
        "r-7\tpin\t****",
        f"1 person(s) with a PIN or card at {SITE}",
    ]
    # Wired into `anju face credential`, the same command through the top-level CLI.
    result = runner.invoke(anju_app, ["face", "credential", "list", "--json", *db])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"person": "r-7", "kind": "card", "card": "04A1B2C3"},
        {"person": "r-7", "kind": "pin"},
    ]

    result = run("credential", "remove", "--person", "r-7", "--pin", "--by", "li", *db)
    assert result.exit_code == 0 and "version 3" in result.output, result.output
    for args, error in [
        (("--person", "r-7"), "--pin, --card or both"),
        (("--person", "r-7", "--pin"), "'r-7' has no pin"),
    ]:
        result = run("credential", "remove", *args, *db)
        assert result.exit_code == 1 and error in result.output, (args, result.output)
    with FaceStore(cli_db, None) as store:
        changes = [(c.kind, c.action, c.operator) for c in store.credential_changes("r-7")]
    assert changes[1:] == [("card", "set", "li"), ("pin", "remove", "li")]

    monkeypatch.setenv(KEY_ENV, generate_key())  # not the key the cards were sealed with
    result = run("credential", "set", "--person", "r-9", "--card", "C-9", *db)
    assert result.exit_code == 1 and "cannot decrypt" in result.output, result.output

    result = run("delete", "--person", "r-7", "--by", "admin", "--db", str(cli_db))
    assert result.exit_code == 0, result.output
    assert "0 encoding(s), 0 consent record(s), 1 PIN/card(s)" in result.output
    assert b"04A1B2C3" not in _db_bytes(cli_db)


def test_cli_import_sets_a_whole_resident_list_or_nothing(cli_db: Path, tmp_path: Path) -> None:
    db = ("--site", SITE, "--db", str(cli_db))
    good = tmp_path / "residents.csv"
    lines = ["person,unit,pin,card"] + [
        f"r-{n:04d},1-{n},{400000 + n},C-{n:04d}" for n in range(300)
    ]
    good.write_text("\ufeff" + "\n".join([*lines, "r-only-card,,,C-X", "r-only-pin,9-9,987650,"]))
    result = run("credential", "import", str(good), *db)
    assert result.exit_code == 0, result.output
    assert "imported 302 row(s)" in result.output and "version 1" in result.output
    with FaceStore(cli_db, FaceCipher(parse_key(os.environ[KEY_ENV]))) as store:
        pins, cards = store.gate_credentials(SITE)
    assert len(pins) == 301 and len(cards) == 301
    assert pins["1-123#400123"] == "r-0123" and cards["C-X"] == "r-only-card"
    result = run("credential", "import", str(good), *db)
    assert "nothing changed" in result.output, result.output

    # A clash anywhere rejects the whole file, naming the row; the store is unchanged.
    bad = tmp_path / "bad.csv"
    bad.write_text("person,unit,pin,card\nr-new,5-5,555550,C-NEW\nr-other,1-123,400123,\n")
    result = run("credential", "import", str(bad), *db)
    assert result.exit_code == 1 and "row 2 (r-other)" in result.output, result.output
    assert "nothing was imported" in result.output
    with FaceStore(cli_db, None) as store:
        assert store.version(SITE) == 1
    for text, error in [("who,pin\nx,1234\n", "header lacks"), ("person,pin,card\n", "no rows"),
                        ("person,pin,card\n,1234,\n", "line 2: no person")]:  # fmt: skip
        (tmp_path / "e.csv").write_text(text)
        result = run("credential", "import", str(tmp_path / "e.csv"), *db)
        assert result.exit_code == 1 and error in result.output, (text, result.output)


# ---------------------------------------------------------------- hub, broker, edge


def _edge(key: bytes, mosquitto: MosquittoBroker, path: Path) -> tuple[MqttBus, FaceSync, Outbox]:
    path.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(path / "outbox.db")
    bus = MqttBus(SITE, "edge-east", mosquitto.url, outbox)
    sync = FaceSync(SITE, path / "faces", FaceCipher(key), key)
    bus.on_sync(sync.on_sync)
    return bus, sync, outbox


async def _until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``check()`` held."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def _opens(sync: FaceSync, attempt: PinAttempt | CardAttempt) -> bool:
    return decide_pedestrian(attempt, sync.state.directory, now=datetime.now(UTC)).opens


def _clear_retained(mosquitto: MosquittoBroker) -> None:
    """Forget the first hub's retained bundle: what the edge gets next is the new hub's."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    client.publish(str(topics.sync(SITE, "faces")), b"", qos=1, retain=True).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


async def test_pins_and_cards_survive_a_hub_restart(
    mosquitto: MosquittoBroker, tmp_path: Path, face_key: bytes
) -> None:
    key = face_key
    site = without_credentials(load_site_config(EXAMPLE_SITE))
    hub_app = faces_hub(mosquitto.url, site, tmp_path / "hub")
    hub = hub_app.hub
    await hub_app.start()
    with FaceStore(face_db(hub), FaceCipher(key)) as store:
        _enroll(store, "res-face")
    # One resident with a face and a PIN, one who refused face recognition: a card and a PIN.
    version = await set_gate_credentials(
        hub,
        SITE,
        pins={"1-101#246800": "res-face", "1-101#135790": "res-no-face"},
        cards={"C-42": "res-no-face"},
    )
    assert version == 3 and await publish_faces(hub, SITE) == 3  # one bump per person
    await hub_app.stop()
    _clear_retained(mosquitto)

    restarted_app = faces_hub(mosquitto.url, site, tmp_path / "hub")
    bus, sync, outbox = _edge(key, mosquitto, tmp_path / "edge")
    await restarted_app.start()
    await bus.start()
    try:
        await _until(lambda: sync.state.version == 3, 20, "the restarted hub's bundle")
        assert _opens(sync, PinAttempt("1-101", "246800")) and _opens(
            sync, PinAttempt("1-101", "135790")
        )
        opened = decide_pedestrian(CardAttempt("C-42"), sync.state.directory, now=NOW)
        assert (opened.decision, opened.subject) == (Decision.OPEN, "res-no-face")
        refused = decide_pedestrian(PinAttempt("1-101", "246900"), sync.state.directory, now=NOW)
        assert (refused.decision, refused.reason) == (Decision.REFUSE, DecisionReason.UNKNOWN)
        assert sync.state.matcher.person_ids == ["res-face"]  # no face for the other one
        on_disk = (tmp_path / "edge" / "faces" / "faces.directory").read_bytes()
        assert b"246800" not in on_disk and b"C-42" not in on_disk and b"res-" not in on_disk
    finally:
        await bus.stop()
        outbox.close()
        await restarted_app.stop()


async def test_cli_changes_reach_the_running_hubs_edges(
    mosquitto: MosquittoBroker, tmp_path: Path, face_key: bytes
) -> None:
    """`anju face credential set|remove` in another process: the hub's face watcher
    notices the new store version and republishes; the edge opens, then refuses."""
    key = face_key
    site = without_credentials(load_site_config(EXAMPLE_SITE))
    hub_app = faces_hub(mosquitto.url, site, tmp_path / "hub")
    hub = hub_app.hub
    bus, sync, outbox = _edge(key, mosquitto, tmp_path / "edge")
    await hub_app.start()
    await bus.start()
    db = ("--site", SITE, "--db", str(face_db(hub)))
    try:
        await _until(lambda: sync.state.version == 0, 20, "the empty bundle at start")
        assert not _opens(sync, PinAttempt("1-101", "864200"))
        result = await asyncio.to_thread(
            run,
            "credential",
            "set",
            "--person",
            "r-5",
            "--unit",
            "1-101",
            "--pin",
            "864200",
            "--card",
            "K-5",
            *db,
        )
        assert result.exit_code == 0, result.output
        set_s = await _until(
            lambda: _opens(sync, PinAttempt("1-101", "864200")), 15, "PIN at the edge"
        )
        assert _opens(sync, CardAttempt("K-5"))
        result = await asyncio.to_thread(
            run, "credential", "remove", "--person", "r-5", "--pin", *db
        )
        assert result.exit_code == 0, result.output
        removed_s = await _until(lambda: sync.state.version == 2, 15, "removal at the edge")
        assert not _opens(sync, PinAttempt("1-101", "864200")) and _opens(sync, CardAttempt("K-5"))
        print(f"\nCLI change -> edge directory: set {set_s:.1f} s, remove {removed_s:.1f} s")
    finally:
        await bus.stop()
        outbox.close()
        await hub_app.stop()


# ---------------------------------------------------------------- console


async def test_console_lists_who_holds_a_pin_or_card_never_the_pin(
    tmp_path: Path, key: bytes
) -> None:
    from hub.console.queries import face_enrolment
    from hub.store import Store

    hub_store = await Store.open(tmp_path)
    try:
        with FaceStore(hub_store.path, FaceCipher(key)) as store:
            _enroll(store, "res-face")
            _enroll(store, "bad", role="blacklist")
            _set(store, "res-face", pin="1-101#515100")
            _set(store, "res-card", card="CARD-77")
            _set(store, "elsewhere", pin="1-101#515100", site="hillside")
        faces = await face_enrolment(hub_store, SITE)
    finally:
        await hub_store.close()
    assert faces is not None
    assert [(f["person"], f["role"], f["encodings"], f["pin"], f["card"]) for f in faces] == [
        ("bad", "blacklist", 1, 0, 0),
        ("res-card", "resident", 0, 0, 1),  # no face: a resident by their card
        ("res-face", "resident", 1, 1, 0),
    ]
    assert "5151" not in json.dumps(faces) and "CARD-77" not in json.dumps(faces)
