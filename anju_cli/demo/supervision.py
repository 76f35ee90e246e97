"""Demo records for a community: device faults through the real hub pipeline, then the
supervision work a county office would record in a half year.

``simulate_device_faults`` plays simulated edge devices: it builds real MQTT envelopes and
feeds them through the hub's own ``Validator`` and ``Recorder`` (the rules open the
violations; nothing is written to the violations table by hand). ``seed_demo_records`` adds
public reports, an inspection, rectification orders (one missed), a commendation, and
walks each through the workflow. Both are idempotent per (community, period).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from hub.recorder import Recorder
from hub.supervision.domain import (
    ActionIn,
    CommendationIn,
    ComplaintIn,
    InspectionIn,
    OrderIn,
    Principal,
)
from hub.supervision.periods import TZ, Period
from hub.supervision.repo import SupervisionRepo
from hub.supervision.workflow import Action, Decision, Role
from hub.validate import Validator
from models import topics
from models.messages import Kind, make_message
from models.site import GateType, SiteConfig

REGULATOR = Principal("county.inspector", Role.REGULATOR)
_NS = uuid.UUID("6f1d3c1e-5a53-4d1b-9a43-0a6a1c1f0b7e")


def _at(period: Period, month: int, day: int, hour: int = 10) -> datetime:
    """A time in the ``month``-th month (0-5) of the period, Shanghai time."""
    start = period.start
    return datetime(start.year, start.month + month, day, hour, tzinfo=TZ)


class DeviceSimulator:
    """Edge devices of one site, speaking the MQTT contract to the hub's pipeline."""

    def __init__(self, site: SiteConfig, recorder: Recorder, tag: str) -> None:
        self.site = site
        self.recorder = recorder
        self.validator = Validator([site])
        self.tag = tag
        self.sent = 0

    def _id(self) -> str:
        self.sent += 1  # deterministic ids: a second run is de-duplicated by the hub
        return uuid.uuid5(_NS, f"{self.site.site.id}/{self.tag}/{self.sent}").hex

    async def send(
        self, device: str, kind: Kind, payload: dict, at: datetime, received: datetime | None = None
    ) -> str:
        site = self.site.site.id
        message = make_message(
            kind, site=site, device=device, payload=payload, id=self._id(), ts=at
        )
        topic = (
            topics.available(site, device)
            if kind is Kind.DEVICE_STATUS
            else topics.event(site, device, kind.value)
        )
        checked = self.validator.check(str(topic), message.to_json(), received or at)
        await self.recorder.record([checked])
        return message.id

    def edge_of(self, gate: str) -> str:
        return next(e.id for e in self.site.edges if gate in e.gates)


async def simulate_device_faults(
    repo: SupervisionRepo, site: SiteConfig, period: Period
) -> list[str]:
    """Half a year of device incidents at one community; returns the event ids sent."""
    recorder = Recorder(repo.store, [site])
    await recorder.load()
    sim = DeviceSimulator(site, recorder, f"faults/{period}")
    vehicle = [g.id for g in site.gates if g.type is GateType.VEHICLE]
    people = [g.id for g in site.gates if g.type is GateType.PEDESTRIAN]
    gate_a, gate_b = vehicle[0], vehicle[-1]
    sent: list[str] = []
    for edge in site.edges:  # everyone online at the start
        sent.append(
            await sim.send(
                edge.id, Kind.HEARTBEAT, {"uptime_s": 60, "outbox_pending": 0}, _at(period, 0, 1, 8)
            )
        )
    blacklisted = site.vehicles.blacklist[0].plate if site.vehicles.blacklist else "浙HX9999"
    for month, day in ((0, 5), (1, 12), (2, 3), (3, 18), (4, 9)):
        at = _at(period, month, day, 22)
        decision = {
            "gate": gate_a,
            "credential": "plate",
            "subject": blacklisted,
            "decision": "refuse",
            "reason": "blacklisted",
        }
        sent.append(await sim.send(sim.edge_of(gate_a), Kind.GATE_DECISION, decision, at))
    for month, day in ((0, 20), (2, 14), (4, 2)):
        decision = {
            "gate": gate_b,
            "credential": "plate",
            "subject": "皖A12345",
            "decision": "refuse",
            "reason": "unknown",
        }
        at = _at(period, month, day, 7)
        sent.append(await sim.send(sim.edge_of(gate_b), Kind.GATE_DECISION, decision, at))
    alarms = [
        (1, 2, gate_b, "camera_tamper", "warning", "画面被遮挡 / view blocked"),
        (2, 21, gate_a, "gate_fault", "critical", "道闸无法抬杆 / barrier arm stuck"),
    ]
    if people:
        alarms += [
            (1, 15, people[0], "tailgating", "warning", "尾随进入 / tailgating"),
            (3, 8, people[0], "tailgating", "warning", "尾随进入 / tailgating"),
            (3, 28, people[0], "door_held", "warning", "门禁常开 180 s / door held 180 s"),
            (4, 11, people[0], "door_forced", "critical", "强行推门 / door forced"),
        ]
    for month, day, gate, kind, severity, detail in alarms:
        alarm = {"type": kind, "gate": gate, "severity": severity, "detail": detail}
        sent.append(await sim.send(sim.edge_of(gate), Kind.ALARM, alarm, _at(period, month, day)))
    # an edge loses power: its last will says offline; the others keep beating; the hub's
    # watchdog opens device_offline past the site's limit; the edge is back 30 hours later
    edge = next((e.id for e in site.edges if e.car_park), site.edges[-1].id)
    down = _at(period, 3, 2, 3)
    beat = {"uptime_s": 3600, "outbox_pending": 0}
    sent.append(await sim.send(edge, Kind.HEARTBEAT, beat, down - timedelta(seconds=10)))
    status = {"online": False, "reason": "connection lost"}
    sent.append(await sim.send(edge, Kind.DEVICE_STATUS, status, down - timedelta(days=1), down))
    limit = timedelta(seconds=site.rules.device_offline_after_s)
    for other in site.edges:
        if other.id != edge:
            at = down + limit
            sent.append(await sim.send(other.id, Kind.HEARTBEAT, beat, at))
    await recorder.check_silence(watching_since=period.start, now=down + limit * 1.5)
    back = down + timedelta(hours=30)
    sent.append(await sim.send(edge, Kind.HEARTBEAT, {"uptime_s": 5, "outbox_pending": 12}, back))
    return sent


async def seed_demo_records(
    repo: SupervisionRepo, site: SiteConfig, period: Period, now: datetime | None = None
) -> dict[str, int]:
    """Supervision records for one community and half year; returns how many of each."""
    sid = site.site.id
    marker = f"supervision/demo/{sid}/{period}"
    if await repo.store.audit_log(target_prefix=marker):
        return {}
    now = now or min(datetime.now(TZ), period.end - timedelta(seconds=1))
    company = Principal(f"{site.site.company.id}.manager", Role.COMPANY, frozenset({sid}))

    async def step(kind: str, ref, action: Action, at: datetime, **kw) -> dict:
        who = company if action is Action.RECTIFY else REGULATOR
        return await repo.act(who, kind, ref, ActionIn(action=action, **kw), now=at)

    def t(month: int, day: int, hour: int = 10) -> datetime:
        return _at(period, month, day, hour)

    # public reports (受理举报)
    fire_lane = await repo.add_complaint(
        REGULATOR,
        ComplaintIn(
            site=sid,
            reporter="3-2-602 业主",
            contact="138****6602",
            channel="phone",
            category="parking",
            severity="warning",
            location="消防通道 F01 / fire lane F01",
            what="消防通道长期被私家车占用 / private cars block the fire lane",
            occurred_at=t(0, 9, 19),
        ),
        now=t(0, 10),
    )
    await step(
        "complaint",
        fire_lane["id"],
        Action.TRIAGE,
        t(0, 11),
        decision=Decision.ORDER_FIX,
        deadline=t(0, 18),
        note="清理消防通道并设置禁停标识 / clear the fire lane, post no-parking signs",
    )
    order_ok = (await repo.complaint(fire_lane["id"]))["order_id"]
    await step(
        "order",
        order_ok,
        Action.RECTIFY,
        t(0, 16),
        evidence=["photo:fire-lane-after.jpg"],
        note="已清理并安装地桩 / cleared, bollards installed",
    )
    await step("order", order_ok, Action.VERIFY, t(0, 20), note="现场核查通过 / checked on site")

    rubbish = await repo.add_complaint(
        REGULATOR,
        ComplaintIn(
            site=sid,
            reporter="匿名 / anonymous",
            channel="online",
            category="cleaning",
            severity="info",
            location="2 幢楼道 / building 2 stairwell",
            what="楼道垃圾三天未清运 / rubbish not collected for three days",
            occurred_at=t(1, 6),
        ),
        now=t(1, 7),
    )
    await step("complaint", rubbish["id"], Action.TRIAGE, t(1, 7, 14), decision=Decision.SOLVE_NOW)
    await step("complaint", rubbish["id"], Action.RECTIFY, t(1, 8, 9), evidence=["photo:b2.jpg"])
    await step("complaint", rubbish["id"], Action.VERIFY, t(1, 9))

    unfounded = await repo.add_complaint(
        REGULATOR,
        ComplaintIn(
            site=sid,
            reporter="5-1 住户 / resident",
            channel="visit",
            category="security",
            what="夜间无人巡逻 / no night patrols",
            location="5 幢 / building 5",
            occurred_at=t(2, 2, 23),
        ),
        now=t(2, 3),
    )
    await step(
        "complaint",
        unfounded["id"],
        Action.DISMISS,
        t(2, 6),
        note="调阅巡逻记录与监控，巡逻正常 / patrol log and video show patrols",
    )

    leak = await repo.add_complaint(
        REGULATOR,
        ComplaintIn(
            site=sid,
            reporter="4-2-204 业主",
            channel="phone",
            category="repair",
            severity="critical",
            location="地下车库 B 区 / car park zone B",
            what="地下车库顶板渗水两周未修 / car park ceiling leaking for two weeks",
            occurred_at=t(3, 1),
        ),
        now=t(3, 2),
    )
    await step(
        "complaint",
        leak["id"],
        Action.TRIAGE,
        t(3, 3),
        decision=Decision.ORDER_FIX,
        deadline=t(3, 17),
        note="责令修复车库渗水 / repair the car park leak",
    )

    # an unannounced visit (暗访) with a checklist; the failed item gets an order, done in time
    inspection = await repo.add_inspection(
        REGULATOR,
        InspectionIn(
            site=sid,
            kind="unannounced",
            date=t(2, 16, 21),
            inspector="县住建局 王检查 / Wang",
            summary="夜间暗访安保与停车 / night visit: security and parking",
            items=[
                {"code": "S1", "label": "门岗有人值守 / gate staffed", "passed": True},
                {
                    "code": "S2",
                    "label": "夜间巡逻记录完整 / night patrol log complete",
                    "passed": False,
                    "severity": "critical",
                    "note": "8 月后无记录 / none since August",
                },
                {"code": "P1", "label": "车辆有序停放 / orderly parking", "passed": True},
                {"code": "C1", "label": "公共区域整洁 / common areas clean", "passed": True},
                {"code": "F1", "label": "消防通道畅通 / fire lanes clear", "passed": True},
            ],
        ),
        now=t(2, 17),
    )
    patrol = await repo.issue_order(
        REGULATOR,
        OrderIn(
            site=sid,
            what="补齐并落实夜间巡逻制度 / restore night patrols and their log",
            deadline=t(2, 27),
            source=f"inspection:{inspection['id']}",
        ),
        now=t(2, 17, 11),
    )
    await step("order", patrol["id"], Action.RECTIFY, t(2, 25), evidence=["doc:patrol-log.pdf"])
    await step("order", patrol["id"], Action.VERIFY, t(2, 28))

    # device faults: the camera is cleaned the same day, the gate waits three days
    violations = await repo.violations(site=sid, period=period)
    for v in violations:
        if v["type"] == "camera_tamper" and v["status"] == "new":
            opened = datetime.fromisoformat(v["opened_at"])
            await step(
                "violation",
                v["id"],
                Action.TRIAGE,
                opened + timedelta(hours=1),
                decision=Decision.SOLVE_NOW,
            )
            await step(
                "violation",
                v["id"],
                Action.RECTIFY,
                opened + timedelta(hours=4),
                evidence=["photo:camera-cleaned.jpg"],
            )
            await step("violation", v["id"], Action.VERIFY, opened + timedelta(days=1))
        if v["type"] == "gate_fault" and v["status"] == "new":
            opened = datetime.fromisoformat(v["opened_at"])
            await step(
                "violation",
                v["id"],
                Action.TRIAGE,
                opened + timedelta(hours=2),
                decision=Decision.SOLVE_NOW,
            )
            await step(
                "violation",
                v["id"],
                Action.RECTIFY,
                opened + timedelta(days=3),
                evidence=["work-order:GF-0917"],
            )

    await repo.add_commendation(
        REGULATOR,
        CommendationIn(
            site=sid,
            at=t(4, 20),
            source="业主委员会来信 / owners' committee letter",
            what="台风期间组织排水抢险 / organised flood pumping during the typhoon",
        ),
        now=t(4, 21),
    )
    # the watchdog, run twice: the leak order's deadline has passed (overdue), and it has
    # been overdue for more than a week (escalated)
    await repo.tick(now)
    await repo.tick(now)
    async with repo.store.transaction():
        await repo.store.audit("demo", "demo.seed", marker, None, {"site": sid}, now)
    return {"complaints": 4, "inspections": 1, "orders": 3, "commendations": 1}
