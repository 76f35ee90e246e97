"""The report command on a fresh hub database with the demo community's records."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from typer.testing import CliRunner

from anju_cli.supervision import app
from hub.store import Store
from hub.supervision.periods import Period
from hub.supervision.repo import SupervisionRepo


def test_report_command_with_demo_records_and_publish(tmp_path: Path) -> None:
    db, out = tmp_path / "data" / "hub.db", tmp_path / "report"
    args = [
        "report",
        "--period",
        "2026H2",
        "--out",
        str(out),
        "--db",
        str(db),
        "--as-of",
        "2026-11-27T12:00",
        "--demo",
        "--publish",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "demo records for lakeside" in result.output
    # 2026H1 had only device faults nobody verified (100.00 scored): the change is shown
    assert "1. 绿叶物业服务有限公司 (greenleaf-pm): 79.50 及格 / Pass (−20.50)" in result.output
    for name in ("credit-2026H2.html", "credit-2026H2.pdf", "credit-2026H2.csv"):
        assert (out / name).stat().st_size > 400
    with (out / "credit-2026H2.csv").open(encoding="utf-8-sig") as fh:
        row = next(csv.DictReader(fh))
    assert row["得分 score"] == "79.50" and row["排名 rank"] == "1"
    # ASCII minus: spreadsheets read the change and every item's points as numbers
    assert float(row["变化 change"]) == -20.50
    items_csv = (out / "credit-2026H2-items.csv").read_text(encoding="utf-8-sig")
    assert "\u2212" not in items_csv and "\u2212" not in (out / "credit-2026H2.csv").read_text()
    with (out / "credit-2026H2-items.csv").open(encoding="utf-8-sig") as fh:
        assert all(float(r["分值 points"]) != 0 for r in csv.DictReader(fh))

    # seeding again adds nothing twice
    again = CliRunner().invoke(app, ["seed-demo", "--period", "2026H2", "--db", str(db)])
    assert again.exit_code == 0 and "already there" in again.output

    rating = CliRunner().invoke(
        app,
        ["rating", "--period", "2026H2", "--db", str(db), "--as-of", "2026-11-27T12:00", "--items"],
    )
    assert rating.exit_code == 0
    assert "greenleaf-pm: 79.50" in rating.output
    # the device alarms nobody triaged are priced apart, not in the score
    assert "provisional, not counted: 13 record(s), -6.10 if verified" in rating.output
    assert "[provisional]" in rating.output
    assert "overdue.order" in rating.output and "records: order:" in rating.output

    async def published() -> list[dict]:
        store = await Store.open(db.parent)
        try:
            return await (await SupervisionRepo.open(store)).published_ratings(
                Period.parse("2026H2")
            )
        finally:
            await store.close()

    rows = asyncio.run(published())
    assert [(r["company"], r["score"], r["level"], r["rank"]) for r in rows] == [
        ("greenleaf-pm", "79.50", "pass", 1)
    ]
    assert any(item["rule"] == "overdue.order" for item in rows[0]["items"])


def test_bad_period_and_db_name_fail_cleanly(tmp_path: Path) -> None:
    bad = CliRunner().invoke(app, ["report", "--period", "2026Q3", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "2026Q3" in bad.output
    db = CliRunner().invoke(
        app, ["rating", "--period", "2026H2", "--db", str(tmp_path / "other.sqlite")]
    )
    assert db.exit_code == 2 and "hub.db" in db.output
