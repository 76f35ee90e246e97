"""`anju demo --duration` as a user runs it: a one-line JSON summary whose counts are the
hub database's, with events, gate opens and violations from the simulated community."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_runs_and_its_summary_matches_the_database(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANJU_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "anju_cli.main",
            "demo",
            "--duration",
            "45",
            "--data",
            str(data),
            "--no-console",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["events"] > 0 and summary["gate_opens"] > 0 and summary["violations"] > 0
    assert summary["rejected"] == 0
    assert sum(summary["arrivals"].values()) > 0

    with sqlite3.connect(data / "hub.db") as db:
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
        violations = db.execute("SELECT count(*) FROM violations").fetchone()[0]
        opens = db.execute(
            "SELECT count(*) FROM events WHERE kind = 'gate_decision' AND decision = 'open'"
        ).fetchone()[0]
        kinds = {k for (k,) in db.execute("SELECT DISTINCT kind FROM events")}
    assert (events, violations, opens) == (
        summary["events"],
        summary["violations"],
        summary["gate_opens"],
    )
    # Every part of the community spoke: vehicle gates, the car park and the pedestrian gate.
    assert {"plate_read", "gate_decision", "slot_state", "heartbeat"} <= kinds
