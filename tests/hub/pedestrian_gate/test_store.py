"""Encrypted enrolment store, consent, erasure, sealed bundles and the edge's cache
(real SQLite files, real AES-GCM; encodings are synthetic vectors here)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from edge.pedestrian_gate.cache import BundleCache
from hub.pedestrian_gate.store import FaceStore, StoreError
from models.face_bundle import (
    FaceCipher,
    FaceKeyError,
    bundle_header,
    generate_key,
    load_face_key,
    open_bundle,
    parse_key,
    seal_bundle,
)
from recognition.face.matcher import FaceMatcher

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
YEAR = NOW + timedelta(days=365)


@pytest.fixture
def cipher() -> FaceCipher:
    return FaceCipher(parse_key(generate_key()))


@pytest.fixture
def store(tmp_path: Path, cipher: FaceCipher):
    with FaceStore(tmp_path / "hub.db", cipher) as s:
        yield s


def vectors(seed: int, n: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def enroll(store: FaceStore, person: str, encodings, role="resident", site="lakeside", **kw):
    args = {"consent_by": "the resident", "purpose": "gate access", "expires_at": YEAR, "now": NOW}
    args.update(kw)
    return store.enroll(site=site, person=person, role=role, encodings=list(encodings), **args)


def test_key_loading(tmp_path: Path):
    key = generate_key()
    assert len(load_face_key(env={"ANJU_FACE_KEY": key})) == 32
    key_file = tmp_path / "face.key"
    key_file.write_text(key + "\n")
    assert load_face_key(env={"ANJU_FACE_KEY_FILE": str(key_file)}) == parse_key(key)
    assert load_face_key(key_file) == parse_key(key)
    with pytest.raises(FaceKeyError, match="ANJU_FACE_KEY"):
        load_face_key(env={})
    with pytest.raises(FaceKeyError, match="32 bytes"):
        parse_key("c2hvcnQ=")


def test_encoding_is_bound_to_its_person(cipher: FaceCipher):
    enc = vectors(0, 1)[0]
    sealed = cipher.seal_encoding(enc, "alice")
    assert np.array_equal(cipher.open_encoding(sealed, "alice"), enc)
    assert enc.tobytes() not in sealed
    with pytest.raises(FaceKeyError):
        cipher.open_encoding(sealed, "mallory")  # moved to another person's row
    with pytest.raises(FaceKeyError):
        FaceCipher(parse_key(generate_key())).open_encoding(sealed, "alice")  # another key


def test_enrol_stores_only_sealed_encodings_and_the_consent(store: FaceStore, tmp_path: Path):
    enc = vectors(1, 3)
    assert enroll(store, "r1", enc) == 1
    assert np.allclose(store.encodings("r1"), enc)
    [consent] = store.consents("r1")
    assert (consent.consent_by, consent.purpose) == ("the resident", "gate access")
    assert consent.given_at == NOW and consent.expires_at == YEAR
    raw = (
        sqlite3.connect(tmp_path / "hub.db").execute("SELECT sealed FROM face_encodings").fetchall()
    )
    assert len(raw) == 3
    assert all(e.tobytes()[:64] not in blob for (blob,) in raw for e in enc)


def test_enrol_refuses_bad_requests(store: FaceStore):
    with pytest.raises(StoreError, match="role"):
        enroll(store, "r1", vectors(2, 1), role="vip")
    with pytest.raises(StoreError, match="consent"):
        enroll(store, "r1", vectors(2, 1), consent_by=" ")
    with pytest.raises(StoreError, match="expired"):
        enroll(store, "r1", vectors(2, 1), expires_at=NOW - timedelta(days=1))
    enroll(store, "r1", vectors(2, 1))
    with pytest.raises(StoreError, match="site"):
        enroll(store, "r1", vectors(3, 1), site="other")


def test_bundle_versions_and_content(store: FaceStore):
    enroll(store, "r1", vectors(4, 2))
    enroll(store, "b1", vectors(5, 1), role="blacklist")
    enroll(store, "x1", vectors(6, 1), site="other")
    bundle = store.export_bundle("lakeside", now=NOW)
    assert bundle["version"] == 2 and bundle["site"] == "lakeside"
    assert [(p["id"], p["role"], len(p["encodings"])) for p in bundle["persons"]] == [
        ("b1", "blacklist", 1),
        ("r1", "resident", 2),
    ]
    assert len(bundle["persons"][1]["encodings"][0]) == 128
    match = FaceMatcher.from_bundle(bundle).match(vectors(5, 1)[0])
    assert (match.person, match.role) == ("b1", "blacklist")


def test_lapsed_consent_stops_export(store: FaceStore):
    enroll(store, "r1", vectors(7, 1), expires_at=NOW + timedelta(days=30))
    assert store.export_bundle("lakeside", now=NOW + timedelta(days=29))["persons"]
    assert store.export_bundle("lakeside", now=NOW + timedelta(days=31))["persons"] == []


def test_erasure_removes_every_trace_but_the_audit_record(cipher: FaceCipher, tmp_path: Path):
    db = tmp_path / "hub.db"
    enc = vectors(8, 2)
    with FaceStore(db, cipher) as store:
        enroll(store, "r1", enc)
        enroll(store, "r2", vectors(9, 1))
        sealed = [
            r[0] for r in store._db.execute("SELECT sealed FROM face_encodings WHERE person='r1'")
        ]
    with FaceStore(db, None) as store:  # erasure needs no key
        erasure = store.delete("r1", operator="guard on duty", now=NOW)
        assert (erasure.encodings_erased, erasure.consents_erased, erasure.bundle_version) == (
            2,
            1,
            3,
        )
        with pytest.raises(StoreError, match="no enrolled person"):
            store.delete("r1", operator="guard on duty")
        [audit] = store.erasures("r1")
        assert audit.operator == "guard on duty" and audit.erased_at == NOW
    with FaceStore(db, cipher) as store:
        assert store.encodings("r1").shape == (0, 128)
        assert store.consents("r1") == []
        assert [p[0] for p in store.persons()] == ["r2"]
        assert [p["id"] for p in store.export_bundle("lakeside")["persons"]] == ["r2"]
    # secure_delete + WAL checkpoint: the sealed bytes are gone from the files themselves.
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("hub.db"))
    assert all(blob[12:40] not in files for blob in sealed)
    audit_columns = [c[1] for c in sqlite3.connect(db).execute("PRAGMA table_info(face_erasures)")]
    assert not {"sealed", "encoding", "encodings"} & set(audit_columns)


def test_sealed_bundle_round_trip_and_tampering(store: FaceStore, cipher: FaceCipher):
    enroll(store, "resident-0001", vectors(10, 2))
    blob = store.export_sealed_bundle("lakeside")
    assert bundle_header(blob) == ("lakeside", 1)
    assert b"resident-0001" not in blob  # person ids and templates are inside the ciphertext
    opened = open_bundle(cipher, blob)
    assert opened["persons"][0]["id"] == "resident-0001"
    assert np.allclose(opened["persons"][0]["encodings"], vectors(10, 2), atol=1e-7)
    replayed = blob.replace(b'"version": 1', b'"version": 9')  # pretend to be newer
    with pytest.raises(FaceKeyError):
        open_bundle(cipher, replayed)
    with pytest.raises(FaceKeyError):
        open_bundle(FaceCipher(parse_key(generate_key())), blob)


def test_edge_cache_keeps_newest_sealed_bundle(tmp_path: Path, cipher: FaceCipher):
    def bundle(version: int, person: str) -> bytes:
        persons = [{"id": person, "role": "resident", "encodings": vectors(version, 1).tolist()}]
        return seal_bundle(cipher, {"version": version, "site": "lakeside", "persons": persons})

    cache = BundleCache(tmp_path / "edge" / "faces.bundle")
    assert cache.load(cipher) is None and cache.version() is None
    assert cache.store(bundle(2, "resident-0001"))
    assert not cache.store(bundle(1, "old"))  # a late retained message
    assert cache.load(cipher)["persons"][0]["id"] == "resident-0001"
    assert b"resident-0001" not in cache.path.read_bytes()  # encrypted at rest on the edge
    assert cache.store(bundle(3, "r2"))  # after an erasure: the new bundle replaces the old
    assert [p["id"] for p in cache.load(cipher)["persons"]] == ["r2"]
    cache.path.write_bytes(b"garbage")
    assert cache.store(bundle(1, "r3"))  # a damaged cache is healed by any bundle
