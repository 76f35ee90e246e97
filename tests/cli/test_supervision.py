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
    html = (out / "credit-2026H2.html").read_text(encoding="utf-8")
    # the publication's facts: configured, or a placeholder naming the key (never invented)
    for key in ("issuing_authority", "publicity_days", "objection_channel", "seal_text"):
        assert f"disclosure.{key}" in html
    assert "统一社会信用代码" in html and "待核实" in html
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


def test_publication_lines_come_from_config_or_name_their_key(tmp_path: Path) -> None:
    import pytest

    from hub.supervision.publication import load_publication
    from models.site import ConfigError

    empty = load_publication(tmp_path / "none.yaml")
    assert (
        empty.line("issuing_authority") == "〔未配置 not configured: disclosure.issuing_authority〕"
    )
    assert "credit_codes.greenleaf-pm" in empty.credit_code("greenleaf-pm")
    path = tmp_path / "disclosure.yaml"
    path.write_text(
        "issuing_authority: 某县住房和城乡建设局\npublicity_days: 7\n"
        "credit_codes: {greenleaf-pm: 91330000TEST00000X}\n",
        encoding="utf-8",
    )
    pub = load_publication(path)
    assert (
        pub.line("issuing_authority") == "某县住房和城乡建设局"
        and pub.line("publicity_days") == "7"
    )
    assert pub.credit_code("greenleaf-pm") == "91330000TEST00000X"
    path.write_text("publicity_days: forever\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"disclosure\.yaml: publicity_days"):
        load_publication(path)
