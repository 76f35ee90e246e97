"""`anju face enroll | identify | delete` on real photos, a real SQLite file and a real key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from anju_cli.face import face_app
from hub.pedestrian_gate.store import FaceStore
from models.face_bundle import generate_key
from simulators.faces import FACES_DIR

runner = CliRunner()


def img(name: str) -> str:
    return str(FACES_DIR / f"{name}.jpg")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANJU_FACE_KEY", generate_key())
    monkeypatch.delenv("ANJU_FACE_KEY_FILE", raising=False)
    return tmp_path / "hub.db"


def run(*args: str):
    return runner.invoke(face_app, list(args), catch_exceptions=False)


def enroll(db: Path, person: str, *images: str, role: str = "resident"):
    return run(
        "enroll", "--site", "lakeside", "--person", person, "--consent-by", "the resident",
        "--purpose", "entry at the pedestrian gates", "--role", role, "--db", str(db), *images,
    )  # fmt: skip


def test_enroll_identify_delete(env: Path):
    result = enroll(env, "r-101", img("obama"), img("obama2"), img("obama_partial"))
    assert result.exit_code == 0, result.output
    assert "rejected" in result.output and "border" in result.output  # the partial face
    assert "2 new encoding(s)" in result.output
    with FaceStore(env, None) as store:
        [consent] = store.consents("r-101")
    assert consent.purpose == "entry at the pedestrian gates"
    assert (consent.expires_at - consent.given_at).days == 365

    result = run("identify", "--json", "--db", str(env), img("obama3"), img("biden"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [r["file"] for r in report] == [img("obama3"), img("biden")]
    [obama] = report[0]["faces"]
    assert obama["person"] == "r-101" and obama["distance"] < 0.5
    assert len(obama["box"]) == 4 and report[0]["ms"] > 0
    [biden] = report[1]["faces"]
    assert biden["person"] is None and biden["distance"] > 0.6
    assert set(report[1]) == {"file", "ms", "faces"}
    assert set(biden) == {"person", "distance", "box"}

    result = run("delete", "--person", "r-101", "--by", "property office", "--db", str(env))
    assert result.exit_code == 0, result.output
    assert "2 encoding(s)" in result.output
    report = json.loads(run("identify", "--json", "--db", str(env), img("obama3")).output)
    assert report[0]["faces"][0]["person"] is None
    with FaceStore(env, None) as store:
        [erasure] = store.erasures("r-101")
    assert erasure.operator == "property office"


def test_enroll_refuses_photos_of_different_people(env: Path):
    result = enroll(env, "r-102", img("obama"), img("biden"))
    assert result.exit_code == 1
    assert "do not all show one person" in result.output
    with FaceStore(env, None) as store:
        assert store.persons() == []


def test_enroll_refuses_a_face_already_enrolled_as_someone_else(env: Path):
    assert enroll(env, "b-7", img("biden"), role="blacklist").exit_code == 0
    result = enroll(env, "r-200", img("biden"))
    assert result.exit_code == 1 and "matches b-7 (blacklist" in result.output
    assert enroll(env, "r-201", img("astronaut")).exit_code == 0


def test_enroll_refuses_when_no_photo_is_usable(env: Path):
    result = enroll(env, "r-103", img("obama_partial"))
    assert result.exit_code == 1 and "nothing enrolled" in result.output


def test_plain_identify_and_missing_key(env: Path, monkeypatch: pytest.MonkeyPatch):
    assert enroll(env, "b-1", img("biden"), role="blacklist").exit_code == 0
    result = run("identify", "--db", str(env), img("biden"), img("astronaut"))
    assert "b-1" in result.output and "unknown" in result.output
    monkeypatch.delenv("ANJU_FACE_KEY")
    result = run("identify", "--db", str(env), img("biden"))
    assert result.exit_code == 1 and "ANJU_FACE_KEY" in result.output
    assert run("delete", "--person", "nobody", "--by", "x", "--db", str(env)).exit_code == 1
