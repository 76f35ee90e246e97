"""Supervision persistence on the hub's real SQLite store: records, workflow, audit, roles."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hub.rules import OpenViolation, ViolationType
from hub.store import DeviceUpdate, Store
from hub.supervision.domain import (
    ActionIn,
    ComplaintIn,
    InspectionIn,
    OrderIn,
    Principal,
)
from hub.supervision.periods import TZ, Period
from hub.supervision.repo import SupervisionRepo
from hub.supervision.scoring import RecordKind
from hub.supervision.workflow import Action, Decision, Role, WorkflowError
from models.messages import Severity
from models.site import load_site_config

NOW = datetime(2026, 9, 1, 9, 0, tzinfo=TZ)
REGULATOR = Principal("li.jian", Role.REGULATOR)
COMPANY = Principal("greenleaf.manager", Role.COMPANY, frozenset({"lakeside"}))
OTHER_COMPANY = Principal("other.manager", Role.COMPANY, frozenset({"elsewhere"}))


@pytest.fixture
async def repo(tmp_path: Path):
    store = await Store.open(tmp_path)
    repo = await SupervisionRepo.open(store)
    await repo.sync_sites([load_site_config()], now=NOW)
    yield repo
    await store.close()


def complaint(**kw) -> ComplaintIn:
    data = {
        "site": "lakeside",
        "reporter": "3-2-602 业主",
        "category": "parking",
        "what": "消防通道长期停车 / cars parked in the fire lane for days",
        "location": "F01",
        "occurred_at": NOW - timedelta(days=1),
    }
    return ComplaintIn(**(data | kw))


async def test_schema_is_idempotent_and_sites_come_from_config(repo: SupervisionRepo) -> None:
    again = await SupervisionRepo.open(repo.store)
    await again.sync_sites([load_site_config()], now=NOW)  # no change, no audit row
    sites = await repo.sites()
    assert sites[0]["id"] == "lakeside" and sites[0]["company"] == "greenleaf-pm"
    assert (await repo.companies())[0]["sites"] == "lakeside"
    audit = await repo.store.audit_log(target_prefix="supervision/")
    assert [a["action"] for a in audit] == ["companies.create", "sites.create"]


async def test_complaint_order_path_is_audited_with_before_and_after(repo) -> None:
    c = await repo.add_complaint(REGULATOR, complaint(), now=NOW)
    assert c["company"] == "greenleaf-pm" and c["status"] == "new" and not c["verified"]
    step = ActionIn(action=Action.TRIAGE, decision=Decision.ORDER_FIX, note="清理消防通道")
    c = await repo.act(REGULATOR, "complaint", c["id"], step, now=NOW)
    assert c["status"] == "assigned" and c["verified"] and c["order_id"]
    order = await repo.order(c["order_id"])
    assert order["source"] == f"complaint:{c['id']}" and order["status"] == "assigned"
    assert order["deadline"] == c["deadline"]
    # the company acts on the order, not the case
    with pytest.raises(WorkflowError, match="act on the order"):
        await repo.act(COMPANY, "complaint", c["id"], ActionIn(action=Action.RECTIFY), now=NOW)
    fix = ActionIn(action=Action.RECTIFY, note="车辆已挪走", evidence=["photo:fire-lane-0902.jpg"])
    await repo.act(COMPANY, "order", order["id"], fix, now=NOW + timedelta(days=1))
    with pytest.raises(WorkflowError) as err:  # a company never verifies its own fix
        await repo.act(COMPANY, "order", order["id"], ActionIn(action=Action.VERIFY), now=NOW)
    assert err.value.code == 403
    await repo.act(
        REGULATOR, "order", order["id"], ActionIn(action=Action.VERIFY), now=NOW + timedelta(2)
    )
    assert (await repo.order(order["id"]))["status"] == "closed"
    assert (await repo.complaint(c["id"]))["status"] == "closed"  # followed the order
    trail = await repo.audit_trail("order", order["id"])
    assert [t["action"] for t in trail] == ["order.issue", "order.rectify", "order.verify"]
    rectify = trail[1]
    assert rectify["actor"] == "greenleaf.manager" and rectify["before"]["status"] == "assigned"
    assert rectify["after"]["status"] == "rectified"
    assert "photo:fire-lane-0902.jpg" in rectify["after"]["rectification"]


async def test_roles_and_sites_are_enforced(repo) -> None:
    with pytest.raises(WorkflowError) as err:
        await repo.add_complaint(OTHER_COMPANY, complaint(), now=NOW)
    assert err.value.code == 403
    order = OrderIn(site="lakeside", what="修复北门道闸", deadline=NOW + timedelta(days=3))
    with pytest.raises(WorkflowError):
        await repo.issue_order(COMPANY, order, now=NOW)
    issued = await repo.issue_order(REGULATOR, order, now=NOW)
    with pytest.raises(WorkflowError):
        await repo.act(OTHER_COMPANY, "order", issued["id"], ActionIn(action=Action.RECTIFY))
    assert await repo.orders(OTHER_COMPANY) == []
    assert len(await repo.orders(COMPANY)) == 1


async def test_tick_marks_overdue_then_escalates(repo) -> None:
    order = OrderIn(site="lakeside", what="修复南门摄像头", deadline=NOW + timedelta(days=2))
    issued = await repo.issue_order(REGULATOR, order, now=NOW)
    assert await repo.tick(NOW + timedelta(days=1)) == 0
    assert await repo.tick(NOW + timedelta(days=3)) == 1
    assert (await repo.order(issued["id"]))["status"] == "overdue"
    assert await repo.tick(NOW + timedelta(days=10)) == 1
    escalated = await repo.order(issued["id"])
    assert escalated["status"] == "escalated" and escalated["escalations"] == 1
    trail = await repo.audit_trail("order", issued["id"])
    assert [t["actor"] for t in trail[1:]] == ["hub.supervision", "hub.supervision"]


async def test_hub_violation_gets_a_case_and_repeats_escalate(repo) -> None:
    store: Store = repo.store
    ids = []
    async with store.transaction():
        for n in range(4):
            ids.append(
                await store.open_violation(
                    OpenViolation(
                        type=ViolationType.DOOR_HELD,
                        severity=Severity.WARNING,
                        site="lakeside",
                        device="edge-east",
                        gate="east-pedestrian",
                        subject="east-pedestrian",
                        at=NOW + timedelta(hours=n),
                        detail="door held open 120 s",
                        evidence=(f"evt{n:06d}",),
                    ),
                    company="greenleaf-pm",
                )
            )
    listed = await repo.violations(period=Period.parse("2026H2"))
    assert [v["status"] for v in listed] == ["new"] * 4 and listed[0]["evidence"] == ["evt000000"]
    step = ActionIn(action=Action.TRIAGE, decision=Decision.SOLVE_NOW)
    v = await repo.act(REGULATOR, "violation", ids[3], step, now=NOW + timedelta(hours=5))
    # three earlier door_held cases: not fixed on the spot, an order is issued
    assert v["decision"] == "order_fix" and v["order_id"]
    records = {r.id: r for r in await repo.records(Period.parse("2026H2"))}
    rec = records[f"violation:{ids[3]}"]
    assert rec.kind is RecordKind.VIOLATION and rec.evidence == ("evt000003",)
    assert rec.deadline is None  # the order carries the deadline
    assert records[f"order:{v['order_id']}"].evidence == (f"violation:{ids[3]}",)


async def test_inspection_with_checklist(repo) -> None:
    data = InspectionIn(
        site="lakeside",
        kind="unannounced",
        date=NOW,
        inspector="县住建局 王检查",
        items=[
            {
                "code": "S1",
                "label": "夜间巡逻记录",
                "passed": False,
                "severity": "critical",
                "note": "9月无记录",
            },
            {"code": "C1", "label": "楼道保洁", "passed": True},
        ],
    )
    saved = await repo.add_inspection(REGULATOR, data, now=NOW)
    assert [i["passed"] for i in saved["items"]] == [False, True]
    records = await repo.records(Period.parse("2026H2"))
    assert records[0].checklist[0].code == "S1" and not records[0].checklist[0].passed


async def test_escalated_order_is_triaged_again_and_its_complaint_follows(repo) -> None:
    c = await repo.add_complaint(REGULATOR, complaint(category="repair"), now=NOW)
    triage = ActionIn(action=Action.TRIAGE, decision=Decision.ORDER_FIX)
    oid = (await repo.act(REGULATOR, "complaint", c["id"], triage, now=NOW))["order_id"]
    assert await repo.tick(NOW + timedelta(days=8)) == 2  # order and complaint overdue
    assert await repo.tick(NOW + timedelta(days=20)) == 2  # ... and escalated
    assert (await repo.complaint(c["id"]))["status"] == "escalated"
    again = ActionIn(
        action=Action.TRIAGE, decision=Decision.ORDER_FIX, deadline=NOW + timedelta(days=30)
    )
    order = await repo.act(REGULATOR, "order", oid, again, now=NOW + timedelta(days=21))
    followed = await repo.complaint(c["id"])
    assert order["status"] == followed["status"] == "assigned"
    assert order["deadline"] == followed["deadline"] and followed["order_id"] == oid
    await repo.act(COMPANY, "order", oid, ActionIn(action=Action.RECTIFY), now=NOW + timedelta(25))
    assert (await repo.complaint(c["id"]))["status"] == "rectified"
    record = next(r for r in await repo.records(Period.parse("2026H2")) if r.id == f"order:{oid}")
    # the new deadline was met, but the first one was missed and stays missed
    assert record.deadline == NOW + timedelta(days=7)


async def _chronic(store: Store, vtype: ViolationType, n: int) -> list[str]:
    ids = []
    async with store.transaction():
        for k in range(n):
            ids.append(
                await store.open_violation(
                    OpenViolation(
                        type=vtype,
                        severity=Severity.WARNING,
                        site="lakeside",
                        device="edge-north",
                        gate="north-vehicle",
                        subject=f"{vtype.value}-{k}",
                        at=NOW + timedelta(minutes=k),
                        detail="again",
                        evidence=(f"evt{k:06d}",),
                    ),
                    company="greenleaf-pm",
                )
            )
    return ids


@pytest.mark.parametrize(
    "vtype",
    [ViolationType.UNKNOWN_VEHICLE, ViolationType.DOOR_HELD, ViolationType.UNKNOWN_FACE_REPEATED],
)
async def test_order_on_a_chronic_case_is_rectified_with_a_photo_and_verified(
    repo, vtype: ViolationType
) -> None:
    """Issue 17: 13 repeats, the regulator orders a fix: the manager can rectify it."""
    ids = await _chronic(repo.store, vtype, 14)
    later = NOW + timedelta(hours=1)
    order_fix = ActionIn(action=Action.TRIAGE, decision=Decision.ORDER_FIX, note="限期整改")
    v = await repo.act(REGULATOR, "violation", ids[-1], order_fix, now=later)
    assert v["status"] == "assigned" and v["order_id"] and v["deadline"]
    fix = ActionIn(action=Action.RECTIFY, note="已整改", evidence=["upload:abc123.jpg"])
    await repo.act(COMPANY, "order", v["order_id"], fix, now=later + timedelta(days=1))
    assert (await repo.case("violation", ids[-1]))["status"] == "rectified"
    verify = ActionIn(action=Action.VERIFY, note="复查合格")
    await repo.act(REGULATOR, "order", v["order_id"], verify, now=later + timedelta(days=2))
    assert (await repo.case("violation", ids[-1]))["status"] == "closed"
    # solve-now on another of them goes up once; its re-triage as an order does not loop
    solve = ActionIn(action=Action.TRIAGE, decision=Decision.SOLVE_NOW)
    up = await repo.act(REGULATOR, "violation", ids[-2], solve, now=later)
    assert up["status"] == "escalated"
    again = await repo.act(REGULATOR, "violation", ids[-2], solve, now=later)
    assert again["status"] == "assigned" and again["order_id"]


async def test_a_past_periods_devices_do_not_show_todays_state(repo) -> None:
    """Issue 17: the 2026H1 report showed the device state of the day it was printed."""
    async with repo.store.transaction():
        await repo.store.update_devices(
            [DeviceUpdate("lakeside", "edge-north", online=True, last_seen=NOW)]
        )
    past = await repo.devices(None, Period.parse("2026H1"))
    assert past and all(d["online"] is None for d in past)
    current = await repo.devices(None, Period.of(datetime.now(TZ)))
    assert [d["online"] for d in current] == [True]
