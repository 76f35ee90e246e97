"""End to end: simulated devices -> hub rules -> violations -> a missed rectification deadline
-> the half-year report, whose every deduction links to its records and device events."""

from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from anju_cli.demo.supervision import DeviceSimulator, simulate_device_faults
from hub.recorder import Recorder
from hub.store import Store
from hub.supervision.domain import ActionIn, Principal
from hub.supervision.periods import TZ, Period
from hub.supervision.repo import SupervisionRepo
from hub.supervision.report import build_report, write_report
from hub.supervision.standard import load_standard
from hub.supervision.workflow import Action, Decision, Role
from models.messages import Kind
from models.site import EXAMPLE_SITE, SiteConfig, load_site_config, load_yaml

PERIOD = Period.parse("2026H2")
AS_OF = datetime(2026, 11, 27, 12, 0, tzinfo=TZ)
REGULATOR = Principal("county.inspector", Role.REGULATOR)


def second_site() -> SiteConfig:
    """Another community managed by another company (same layout as the example)."""
    data = load_yaml(EXAMPLE_SITE)
    data["site"] = {
        "id": "riverside",
        "name": "河畔小区",
        "name_en": "Riverside",
        "company": {"id": "bluesky-pm", "name": "蓝天物业"},
    }
    return SiteConfig.model_validate(data)


async def test_devices_to_report_with_traceable_deductions(tmp_path: Path) -> None:
    lakeside, riverside = load_site_config(), second_site()
    store = await Store.open(tmp_path / "data")
    try:
        repo = await SupervisionRepo.open(store)
        await repo.sync_sites([lakeside, riverside])
        sent = await simulate_device_faults(repo, lakeside, PERIOD)

        # riverside: one blocked camera, cleaned within two hours
        sim = DeviceSimulator(riverside, Recorder(store, [riverside]), "test")
        at = datetime(2026, 9, 9, 9, tzinfo=TZ)
        alarm = {"type": "camera_tamper", "gate": "south-vehicle", "detail": "lens sprayed"}
        await sim.send("edge-south", Kind.ALARM, alarm, at)
        tamper = (await repo.violations(site="riverside"))[0]
        await repo.act(
            REGULATOR,
            "violation",
            tamper["id"],
            ActionIn(action=Action.TRIAGE, decision=Decision.SOLVE_NOW),
            now=at + timedelta(minutes=30),
        )
        company = Principal("bluesky", Role.COMPANY, frozenset({"riverside"}))
        await repo.act(
            company,
            "violation",
            tamper["id"],
            ActionIn(action=Action.RECTIFY, evidence=["photo:lens.jpg"]),
            now=at + timedelta(hours=2),
        )

        # lakeside: the gate fault gets a rectification order that the company misses
        fault = next(v for v in await repo.violations(site="lakeside") if v["type"] == "gate_fault")
        assert fault["evidence"] and set(fault["evidence"]) <= set(sent)
        opened = datetime.fromisoformat(fault["opened_at"])
        step = ActionIn(
            action=Action.TRIAGE,
            decision=Decision.ORDER_FIX,
            deadline=opened + timedelta(days=3),
            note="修复北门道闸 / repair the gate",
        )
        case = await repo.act(REGULATOR, "violation", fault["id"], step, now=opened)
        order_id = case["order_id"]
        assert await repo.tick(AS_OF) == 2  # the order and its violation are now overdue
        assert (await repo.order(order_id))["status"] == "overdue"

        standard = load_standard()
        data = await build_report(repo, PERIOD, standard, AS_OF)
        files = write_report(data, tmp_path / "report", standard)
    finally:
        await store.close()

    # ranking: the company that repaired in time is ahead
    assert [c.id for c in data.companies] == ["bluesky-pm", "greenleaf-pm"]
    greenleaf = data.companies[1]
    overdue = next(i for i in greenleaf.bad if i.rule == "overdue.order")
    assert [r["id"] for r in overdue.records] == [f"order:{order_id}"]
    assert overdue.evidence == [f"violation:{fault['id']}"]  # the order names its violation
    late = next(i for i in greenleaf.bad if i.rule == "service.late_repair.gate_fault")
    assert late.evidence == fault["evidence"]  # ... whose device events are the evidence
    # the outage was never triaged by the regulator: priced apart, not in the score
    assert not [i for i in greenleaf.bad if i.rule == "service.device_offline"]
    downtime = next(i for i in greenleaf.provisional if i.rule == "service.device_offline")
    assert downtime.points == "−2.60"  # 30 h offline less the watchdog's 135 s, 4 h free

    lake = next(c for c in data.communities if c.id == "lakeside")
    carpark = next(d for d in lake.devices if d["device"] == "edge-carpark")
    assert carpark["outages"] == 1 and carpark["hours"] == "29.96"

    # the files: the HTML shows each deduction with its record and event ids
    html = files["html"].read_text(encoding="utf-8")
    assert f"order:{order_id}" in html and fault["evidence"][0] in html
    assert "绿叶物业服务有限公司" in html and greenleaf.score in html and "<svg" in html
    # the items CSV adds up to each company's score
    with files["items_csv"].open(encoding="utf-8-sig") as fh:
        items = list(csv.DictReader(fh))
    with files["csv"].open(encoding="utf-8-sig") as fh:
        companies = {row["企业编号 company id"]: row for row in csv.DictReader(fh)}
    for cid, row in companies.items():
        points = [
            Decimal(i["分值 points"].replace("−", "-"))
            for i in items
            if i["企业编号 company id"] == cid
        ]
        assert Decimal(100) + sum(points) == Decimal(row["得分 score"])
        assert all(i["记录 records"] for i in items)
    pdf = files["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF") and b"WenQuanYiMicroHei" in pdf  # CJK font embedded
    assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) >= 3
