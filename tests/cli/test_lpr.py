"""`anju lpr --json`: one JSON line per image, matching the generated ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import typer
from typer.testing import CliRunner

from anju_cli.lpr import lpr_main
from models.plate import normalize_plate
from simulators.plates import generate_dataset


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(lpr_main)
    return app


def test_json_lines_match_ground_truth(tmp_path: Path) -> None:
    truth: dict[str, set[str]] = {}
    for i, (frame, plates, meta) in enumerate(generate_dataset(10, seed=5)):
        if meta["difficulty"] == "hard":
            continue  # the small set checks the output contract; bench/lpr.py measures hard
        path = tmp_path / f"frame_{i:02d}.jpg"
        cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        truth[str(path)] = {p.text for p in plates}
    result = CliRunner().invoke(_app(), [str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert {rec["file"] for rec in lines} == set(truth)
    for rec in lines:
        assert rec["ms"] > 0 and "error" not in rec
        found = {normalize_plate(p["text"]) for p in rec["plates"]}
        assert truth[rec["file"]] <= found, rec
        for p in rec["plates"]:
            assert p["color"] in {"blue", "yellow", "green", "white", "black"}
            assert 0.0 <= p["confidence"] <= 1.0
            _x, _y, w, h = p["box"]
            assert w > 0 and h > 0
        confs = [p["confidence"] for p in rec["plates"]]
        assert confs == sorted(confs, reverse=True)  # best plate first


def test_bad_and_missing_files_report_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    missing = tmp_path / "nope.png"
    result = CliRunner().invoke(_app(), [str(bad), str(missing), "--json"])
    assert result.exit_code == 1
    recs = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [r["file"] for r in recs] == [str(bad), str(missing)]
    for r in recs:
        assert r["plates"] == [] and r["error"]


def test_plain_output_shows_dotted_plate(tmp_path: Path) -> None:
    frame, plates, _ = next(generate_dataset(1, seed=5))
    path = tmp_path / "car.png"
    cv2.imwrite(str(path), frame)
    result = CliRunner().invoke(_app(), [str(path)])
    assert result.exit_code == 0
    text = plates[0].text
    assert f"{text[:2]}·{text[2:]}" in result.stdout


def test_home_province_is_checked(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), [str(tmp_path), "--home-province", "X"])
    assert result.exit_code == 2
    assert "--home-province" in result.output and "is not one of the 31" in result.output
