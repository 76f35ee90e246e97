"""The console's use of the supervision domain (hub.supervision): the case queue, workflow
steps, ratings and trends. Everything goes through ``SupervisionRepo`` so that the
workflow's own role checks and audit trail apply."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.console.roles import ConsoleUser, Permission
from hub.store import Store, from_iso
from hub.supervision.domain import company_sites, visible_companies
from models.messages import utcnow
from models.site import SiteConfig

log = logging.getLogger(__name__)

DUE_SOON = timedelta(hours=24)
ORDER_STEPS = frozenset({"rectify", "verify", "reject"})  # taken on the order once there is one
TREND_PERIODS = 4


def deadline_state(deadline: datetime | None, status: str, now: datetime) -> str:
    """'overdue', 'due_soon' or '' for a case (closed and dismissed cases are never late)."""
    if status in ("closed", "dismissed", "rectified"):
        return ""
    if status == "overdue":
        return "overdue"
    if deadline is None:
        return ""
    if deadline <= now:
        return "overdue"
    return "due_soon" if deadline - now <= DUE_SOON else ""


def action_label(action: str) -> str:
    from hub.console.i18n import code

    return code("act", action)


def allowed_actions(status: str, role: Any) -> list[str]:
    """The workflow steps ``role`` may take on a case in ``status`` (for the form)."""
    from hub.supervision.workflow import TRANSITIONS, Action, Status

    try:
        current = Status(status)
    except ValueError:
        return []
    return [
        action.value
        for action, (states, roles) in TRANSITIONS.items()
        if action is not Action.MARK_OVERDUE and current in states and role in roles
    ]


def type_label(kind: str) -> str:
    from hub.console.i18n import type_label as label

    return label(kind)


def status_label(status: str) -> str:
    from hub.console.i18n import status_label as label

    return label(status)


PER_PAGE = 25


def audit_words(row: dict[str, Any]) -> dict[str, str]:
    """An audit row for people: the target as "违规 1a2b3c4d" (a link where the console has
    a page), and the change as its main fields in words instead of JSON."""
    import json

    from hub.console.i18n import code, status_label, text, type_label

    target = str(row.get("target") or "")
    parts = target.split("/")
    link, words = "", target
    if len(parts) >= 3 and parts[0] == "supervision":
        kind, ref = parts[1], parts[2]
        words = f"{code('kind_of', kind)} {ref[:8]}"
        if kind == "violation":
            link = f"/violations/{ref}"
    after = row.get("after") or {}
    if isinstance(after, str):
        try:
            after = json.loads(after)
        except ValueError:
            after = {"note": after}
    bits = []
    if isinstance(after, dict):
        if after.get("type"):
            bits.append(type_label(str(after["type"])))
        if after.get("status"):
            bits.append(status_label(str(after["status"])))
        if after.get("decision"):
            bits.append(code("decision", str(after["decision"])))
        for key in ("reason", "note", "what", "username", "role"):
            if after.get(key):
                bits.append(f"{text(key, key)}: {after[key]}")
    action = str(row.get("action") or "")
    head, _, step = action.partition(".")
    return {
        "action": f"{code('kind_of', head)} · {code('act', step)}" if step else action,
        "target": words,
        "link": link,
        "detail": " · ".join(bits),
    }


def history_rows(trail: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit rows of a case (and its order) in words: who did what, the status after, the
    deadline, the note and the photos - never raw JSON."""
    import json

    from hub.console.i18n import code, status_label

    rows = []
    for row in trail:
        after = row.get("after") or {}
        if isinstance(after, str):
            after = json.loads(after or "{}")
        what, _, step = str(row.get("action", "")).partition(".")
        photos = []
        raw = after.get("rectification") or "[]"
        for item in json.loads(raw) if isinstance(raw, str) else raw:
            ref = item.get("ref", "") if isinstance(item, dict) else str(item)
            if ref.startswith("photo:"):
                photos.append(ref.removeprefix("photo:"))
        rows.append(
            {
                "at": row.get("at"),
                "actor": row.get("actor", ""),
                "on": code("kind_of", what) if what else "",
                "action": code("act", step or what),
                "decision": code("decision", after.get("decision")),
                "status": status_label(after["status"]) if after.get("status") else "",
                "deadline": after.get("deadline"),
                "note": after.get("note") or "",
                "photos": photos,
            }
        )
    return rows


def page_of(
    cases: list[dict[str, Any]],
    *,
    q: str = "",
    status: str = "",
    vtype: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> tuple[list[dict[str, Any]], int]:
    """The cases matching the filters (search in subject, gate, device, detail and type
    label), one page of them, and how many pages there are."""
    needle = q.strip().lower()

    def keep(c: dict[str, Any]) -> bool:
        if status and c["status"] != status:
            return False
        if vtype and c["type"] != vtype:
            return False
        if needle:
            hay = " ".join(
                str(c.get(k) or "")
                for k in ("subject", "gate", "gate_name", "device", "detail", "type_label", "id")
            )
            return needle in hay.lower()
        return True

    found = [c for c in cases if keep(c)]
    pages = max(1, -(-len(found) // per_page))
    page = min(max(page, 1), pages)
    return found[(page - 1) * per_page : page * per_page], pages


def sort_queue(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """My to-do first (what this role can act on), then late before due before the rest,
    open before finished, newest first."""
    order = {"overdue": 0, "due_soon": 1, "": 2}
    open_first = {"new": 0, "escalated": 0, "overdue": 0, "assigned": 1, "rectified": 2}
    cases = sorted(cases, key=lambda c: c["opened_at"], reverse=True)
    return sorted(
        cases,
        key=lambda c: (
            not c.get("todo"),
            order[c["deadline_state"]],
            open_first.get(c["status"], 3),
        ),
    )


@dataclass
class Supervision:
    """Opened once per app; ``repo`` None when the supervision package cannot be used."""

    repo: Any | None
    standard: Any | None
    error: str = ""

    @classmethod
    async def open(cls, store: Store, sites: list[SiteConfig]) -> Supervision:
        try:
            from hub.supervision.repo import SupervisionRepo
            from hub.supervision.standard import load_standard

            repo = await SupervisionRepo.open(store)
            await repo.sync_sites(sites)
            return cls(repo, load_standard())
        except Exception as exc:  # the console still serves live pages without it
            log.exception("supervision unavailable in the console")
            return cls(None, None, f"{type(exc).__name__}: {exc}")

    async def queue(self, user: ConsoleUser, site: str | None) -> list[dict[str, Any]]:
        assert self.repo is not None
        now = utcnow()
        cases = await self.repo.violations(user.principal(), site=site, limit=500)
        role = user.principal().role
        for c in cases:
            c["deadline_state"] = deadline_state(from_iso(c.get("deadline")), c["status"], now)
            c["actions"] = allowed_actions(c["status"], role)
            c["todo"] = bool(c["actions"]) and user.can(Permission.CASE_WORKFLOW)
            c["action_words"] = " / ".join(action_label(a) for a in c["actions"])
            c["type_label"] = type_label(c["type"])
            c["status_label"] = status_label(c["status"])
        return sort_queue(cases)

    async def act(self, user: ConsoleUser, vid: str, step: dict[str, Any]) -> dict[str, Any]:
        from hub.supervision.domain import ActionIn

        assert self.repo is not None
        case = await self.repo.case("violation", vid)
        if case.get("order_id") and step["action"] in ORDER_STEPS:
            # once ordered (责令整改), the company works on the order; the case follows it
            await self.repo.act(user.principal(), "order", case["order_id"], ActionIn(**step))
            return await self.repo.case("violation", vid)
        return await self.repo.act(user.principal(), "violation", vid, ActionIn(**step))

    async def case(self, vid: str) -> dict[str, Any]:
        assert self.repo is not None
        return await self.repo.case("violation", vid)

    async def trail(self, vid: str) -> list[dict[str, Any]]:
        """The case's history, with its rectification order's, oldest first."""
        assert self.repo is not None
        rows = await self.repo.audit_trail("violation", vid)
        case = await self.repo.case("violation", vid)
        if case.get("order_id"):
            rows += await self.repo.audit_trail("order", case["order_id"])
        return sorted(rows, key=lambda r: (r["at"], r["id"]))

    async def ratings(self, user: ConsoleUser, all_companies: bool) -> dict[str, Any]:
        """This half year's ranking, and each company's score over the last periods."""
        from hub.supervision.periods import Period
        from hub.supervision.rating import compute_rating
        from hub.supervision.scoring import score_all

        assert self.repo is not None and self.standard is not None
        now = utcnow()
        period = Period.of(now)
        rating = await compute_rating(self.repo, period, self.standard, now)
        companies = rating.companies
        visible = visible_companies(user.principal(), companies, all_companies=all_companies)
        periods = [period]
        for _ in range(TREND_PERIODS - 1):
            periods.insert(0, periods[0].previous())
        trend: dict[str, list[float | None]] = {c: [] for c in visible}
        for p in periods:
            records = await self.repo.records(p)
            as_of = min(now, p.end)
            scores = score_all(records, self.standard, p, companies, as_of)
            for c in visible:
                s = scores.get(c)
                trend[c].append(float(s.score) if s and (s.record_count or p == period) else None)
        ranking = [r for r in rating.ranking if r.company in visible]
        for info in companies.values():
            info["site_list"] = sorted(company_sites(info))
        return {
            "period": str(period),
            "periods": [str(p) for p in periods],
            "ranking": ranking,
            "companies": companies,
            "scores": rating.scores,
            "trend": trend,
        }

    async def report_html(self, period_text: str) -> str:
        from hub.supervision.periods import Period
        from hub.supervision.report import build_report, render_html

        assert self.repo is not None and self.standard is not None
        data = await build_report(self.repo, Period.parse(period_text), self.standard)
        return render_html(data)
