"""Supervision records in the hub's SQLite database (``sv_*`` tables), every change audited.

Built on ``hub.store.Store``: its migrator (component ``supervision``), its serialised
write transactions and its ``audit_log``. The hub's own ``violations`` table is read, never
written: a violation's supervision workflow lives beside it in ``sv_violation_cases``.

Communities and companies come from the site configs (``sync_sites``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from hub.store import Store, from_iso, iso
from hub.supervision.domain import (
    SYSTEM,
    ActionIn,
    CommendationIn,
    ComplaintIn,
    InspectionIn,
    OrderIn,
    Principal,
    shield_reporter,
)
from hub.supervision.periods import Period
from hub.supervision.scoring import CheckItem, Record, RecordKind, outage_hours
from hub.supervision.workflow import (
    OPEN_STATES,
    Action,
    Case,
    Decision,
    Policy,
    Role,
    Status,
    WorkflowError,
    apply,
    due_action,
)
from models.messages import utcnow
from models.site import SiteConfig

# The workflow columns every case-like table carries (see workflow.Case).
_CASE_COLUMNS = """
        status        TEXT NOT NULL DEFAULT 'new',
        decision      TEXT,
        deadline      TEXT,
        rectified_at  TEXT,
        closed_at     TEXT,
        overdue_since TEXT,
        escalations   INTEGER NOT NULL DEFAULT 0,
        verified      INTEGER NOT NULL DEFAULT 0,
        note          TEXT NOT NULL DEFAULT '',
        rectification TEXT NOT NULL DEFAULT '[]', -- JSON: evidence the company gave
        order_id      INTEGER,                    -- the rectification order it led to
        updated_at    TEXT NOT NULL
"""

SUPERVISION_MIGRATIONS: list[str] = [
    f"""
    CREATE TABLE sv_companies (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE sv_sites (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        name_en    TEXT NOT NULL DEFAULT '',
        company    TEXT NOT NULL REFERENCES sv_companies (id),
        updated_at TEXT NOT NULL
    );
    CREATE TABLE sv_violation_cases (
        violation_id TEXT PRIMARY KEY,          -- violations.id (the hub's table)
        site         TEXT NOT NULL,
        company      TEXT NOT NULL,
        {_CASE_COLUMNS}
    );
    CREATE TABLE sv_complaints (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        site        TEXT NOT NULL,
        company     TEXT NOT NULL,
        reporter    TEXT NOT NULL,
        contact     TEXT NOT NULL DEFAULT '',
        channel     TEXT NOT NULL,
        category    TEXT NOT NULL,
        severity    TEXT NOT NULL,
        what        TEXT NOT NULL,
        location    TEXT NOT NULL DEFAULT '',
        occurred_at TEXT NOT NULL,
        received_at TEXT NOT NULL,
        received_by TEXT NOT NULL,
        {_CASE_COLUMNS}
    );
    CREATE INDEX sv_complaints_site ON sv_complaints (site, received_at);
    CREATE TABLE sv_inspections (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        site       TEXT NOT NULL,
        company    TEXT NOT NULL,
        kind       TEXT NOT NULL,               -- open | unannounced | spot_check
        date       TEXT NOT NULL,
        inspector  TEXT NOT NULL,
        summary    TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    );
    CREATE TABLE sv_inspection_items (
        inspection_id INTEGER NOT NULL REFERENCES sv_inspections (id),
        seq           INTEGER NOT NULL,
        code          TEXT NOT NULL,
        label         TEXT NOT NULL,
        severity      TEXT NOT NULL,
        passed        INTEGER NOT NULL,
        note          TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (inspection_id, seq)
    );
    CREATE TABLE sv_orders (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        site      TEXT NOT NULL,
        company   TEXT NOT NULL,                -- the responsible company
        what      TEXT NOT NULL,
        source    TEXT,                         -- "violation:<id>", "complaint:<id>", ...
        issued_by TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        {_CASE_COLUMNS}
    );
    CREATE INDEX sv_orders_site ON sv_orders (site, issued_at);
    CREATE TABLE sv_commendations (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        site      TEXT NOT NULL,
        company   TEXT NOT NULL,
        at        TEXT NOT NULL,
        what      TEXT NOT NULL,
        source    TEXT NOT NULL DEFAULT '',
        issued_by TEXT NOT NULL
    );
    CREATE TABLE sv_ratings (                   -- a published half-year rating, frozen
        period           TEXT NOT NULL,
        company          TEXT NOT NULL,
        standard_version INTEGER NOT NULL,
        score            TEXT NOT NULL,         -- exact decimal as text
        level            TEXT NOT NULL,
        rank             INTEGER NOT NULL,
        published_at     TEXT NOT NULL,
        published_by     TEXT NOT NULL,
        items            TEXT NOT NULL,         -- JSON: the traceable score items
        PRIMARY KEY (period, company)
    );
    """,
]

CASE_TABLES = {
    "violation": "sv_violation_cases",
    "complaint": "sv_complaints",
    "order": "sv_orders",
}
_KEY = {"violation": "violation_id", "complaint": "id", "order": "id"}
# Who may record what. Workflow transitions have their own table (workflow.TRANSITIONS).
CREATE_ROLES = {
    "complaint": frozenset({Role.GUARD, Role.COMPANY, Role.REGULATOR, Role.ADMIN}),
    "inspection": frozenset({Role.REGULATOR, Role.ADMIN}),
    "order": frozenset({Role.REGULATOR, Role.ADMIN}),
    "commendation": frozenset({Role.REGULATOR, Role.ADMIN}),
}


REPEAT_WINDOW_DAYS = 182  # "repeated" means: again within about half a year
# Steps a company takes on the order itself once a case has one (one place to act).
_ORDER_STEPS = frozenset({Action.RECTIFY, Action.VERIFY, Action.REJECT})


class NotFound(LookupError):
    pass


def _case_of(row: dict[str, Any]) -> Case:
    return Case(
        status=Status(row["status"]),
        decision=Decision(row["decision"]) if row["decision"] else None,
        deadline=from_iso(row["deadline"]),
        rectified_at=from_iso(row["rectified_at"]),
        closed_at=from_iso(row["closed_at"]),
        overdue_since=from_iso(row["overdue_since"]),
        escalations=row["escalations"],
        verified=bool(row["verified"]),
        note=row["note"],
    )


def _case_columns(case: Case) -> dict[str, Any]:
    return {
        "status": case.status.value,
        "decision": case.decision.value if case.decision else None,
        "deadline": iso(case.deadline) if case.deadline else None,
        "rectified_at": iso(case.rectified_at) if case.rectified_at else None,
        "closed_at": iso(case.closed_at) if case.closed_at else None,
        "overdue_since": iso(case.overdue_since) if case.overdue_since else None,
        "escalations": case.escalations,
        "verified": int(case.verified),
        "note": case.note,
    }


def _period_bounds(period: Period) -> tuple[str, str]:
    return iso(period.start), iso(period.end)


class SupervisionRepo:
    def __init__(self, store: Store, policy: Policy = Policy()) -> None:
        self.store = store
        self.policy = policy

    @classmethod
    async def open(cls, store: Store, policy: Policy = Policy()) -> SupervisionRepo:
        await store.apply_migrations("supervision", SUPERVISION_MIGRATIONS)
        return cls(store, policy)

    # ------------------------------------------------------------------ helpers

    async def _by_id(self, table: str, what: str, rid: int) -> dict[str, Any]:
        """One row of a supervision table by id (``table`` is a fixed name, never input)."""
        rows = await self._rows(f"SELECT * FROM {table} WHERE id = ?", [rid])
        if not rows:
            raise NotFound(f"no {what} {rid}")
        return rows[0]

    async def _rows(
        self, sql: str, params: Sequence[Any] = (), conn: aiosqlite.Connection | None = None
    ) -> list[dict[str, Any]]:
        conn = conn or self.store.reader
        async with conn.execute(sql, params) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]

    async def _insert(self, table: str, row: dict[str, Any]) -> int:
        cur = await self.store.db.execute(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )
        return int(cur.lastrowid or 0)

    async def _company_of(self, site: str) -> str:
        rows = await self._rows("SELECT company FROM sv_sites WHERE id = ?", [site], self.store.db)
        if not rows:
            raise NotFound(f"unknown community {site!r}")
        return rows[0]["company"]

    @staticmethod
    def _require(principal: Principal, what: str, site: str | None = None) -> None:
        if principal.role not in CREATE_ROLES[what]:
            raise WorkflowError(f"role {principal.role} may not record a {what}", code=403)
        if site is not None and not principal.may_see(site):
            raise WorkflowError(f"{principal.user} may not act for community {site}", code=403)

    @staticmethod
    def _visible(principal: Principal | None, rows: list[dict[str, Any]]) -> list[dict]:
        if principal is None:
            return rows
        return [r for r in rows if principal.may_see(r["site"])]

    # ------------------------------------------------------------------ communities

    async def sync_sites(self, sites: Sequence[SiteConfig], *, now: datetime | None = None) -> None:
        """Make each site config's community and managing company known (audited on change)."""
        now = now or utcnow()
        async with self.store.transaction():
            for config in sites:
                info, company = config.site, config.site.company
                await self._upsert(
                    "sv_companies",
                    {"id": company.id, "name": company.name},
                    f"supervision/company/{company.id}",
                    now,
                )
                await self._upsert(
                    "sv_sites",
                    {
                        "id": info.id,
                        "name": info.name,
                        "name_en": info.name_en,
                        "company": company.id,
                    },
                    f"supervision/site/{info.id}",
                    now,
                )

    async def _upsert(self, table: str, row: dict[str, Any], target: str, now: datetime) -> None:
        found = await self._rows(f"SELECT * FROM {table} WHERE id = ?", [row["id"]], self.store.db)
        before = {k: found[0][k] for k in row} if found else None
        if before == row:
            return
        await self.store.db.execute(
            f"INSERT INTO {table} ({', '.join(row)}, updated_at)"
            f" VALUES ({', '.join('?' * len(row))}, ?) ON CONFLICT (id) DO UPDATE SET "
            + ", ".join(f"{k} = excluded.{k}" for k in [*row, "updated_at"]),
            (*row.values(), iso(now)),
        )
        action = f"{table.removeprefix('sv_')}.{'update' if before else 'create'}"
        await self.store.audit("config", action, target, before, row, now)

    async def companies(self) -> list[dict[str, Any]]:
        return await self._rows(
            "SELECT c.id, c.name, group_concat(s.id) AS sites FROM sv_companies c"
            " LEFT JOIN sv_sites s ON s.company = c.id GROUP BY c.id ORDER BY c.id"
        )

    async def sites(self, principal: Principal | None = None) -> list[dict[str, Any]]:
        rows = await self._rows(
            "SELECT s.id, s.name, s.name_en, s.company, c.name AS company_name"
            " FROM sv_sites s JOIN sv_companies c ON c.id = s.company ORDER BY s.id"
        )
        return self._visible(principal, [{**r, "site": r["id"]} for r in rows])

    # ------------------------------------------------------------------ records

    async def add_complaint(
        self, principal: Principal, data: ComplaintIn, *, now: datetime | None = None
    ) -> dict[str, Any]:
        self._require(principal, "complaint", data.site)
        now = now or utcnow()
        async with self.store.transaction():
            row = {
                "site": data.site,
                "company": await self._company_of(data.site),
                "reporter": data.reporter,
                "contact": data.contact,
                "channel": data.channel.value,
                "category": data.category.value,
                "severity": data.severity,
                "what": data.what,
                "location": data.location,
                "occurred_at": iso(data.occurred_at),
                "received_at": iso(now),
                "received_by": principal.user,
                "updated_at": iso(now),
            }
            cid = await self._insert("sv_complaints", row)
            await self.store.audit(
                principal.user, "complaint.create", f"supervision/complaint/{cid}", None, row, now
            )
        return await self.complaint(cid)

    async def complaint(self, cid: int) -> dict[str, Any]:
        return _decode(await self._by_id("sv_complaints", "complaint", cid))

    async def complaints(
        self,
        principal: Principal | None = None,
        *,
        site: str | None = None,
        status: str | None = None,
        period: Period | None = None,
    ) -> list[dict[str, Any]]:
        sql, params = _where("received_at", site=site, status=status, period=period)
        rows = await self._rows(f"SELECT * FROM sv_complaints{sql} ORDER BY id", params)
        return [shield_reporter(principal, _decode(r)) for r in self._visible(principal, rows)]

    async def add_inspection(
        self, principal: Principal, data: InspectionIn, *, now: datetime | None = None
    ) -> dict[str, Any]:
        self._require(principal, "inspection", data.site)
        now = now or utcnow()
        async with self.store.transaction():
            row = {
                "site": data.site,
                "company": await self._company_of(data.site),
                "kind": data.kind.value,
                "date": iso(data.date),
                "inspector": data.inspector,
                "summary": data.summary,
                "created_at": iso(now),
            }
            iid = await self._insert("sv_inspections", row)
            items = [
                {"inspection_id": iid, "seq": n, **item.model_dump()}
                for n, item in enumerate(data.items, start=1)
            ]
            for item in items:
                item["passed"] = int(item["passed"])
                await self._insert("sv_inspection_items", item)
            await self.store.audit(
                principal.user,
                "inspection.create",
                f"supervision/inspection/{iid}",
                None,
                {**row, "items": items},
                now,
            )
        return await self.inspection(iid)

    async def inspection(self, iid: int) -> dict[str, Any]:
        return await self._with_items(await self._by_id("sv_inspections", "inspection", iid))

    async def _with_items(self, row: dict[str, Any]) -> dict[str, Any]:
        items = await self._rows(
            "SELECT seq, code, label, severity, passed, note FROM sv_inspection_items"
            " WHERE inspection_id = ? ORDER BY seq",
            [row["id"]],
        )
        for item in items:
            item["passed"] = bool(item["passed"])
        return {**row, "items": items}

    async def inspections(
        self, principal: Principal | None = None, *, site: str | None = None, period=None
    ) -> list[dict[str, Any]]:
        sql, params = _where("date", site=site, period=period)
        rows = await self._rows(f"SELECT * FROM sv_inspections{sql} ORDER BY date, id", params)
        return [await self._with_items(r) for r in self._visible(principal, rows)]

    async def issue_order(
        self, principal: Principal, data: OrderIn, *, now: datetime | None = None
    ) -> dict[str, Any]:
        """Order the community's company to rectify (责令整改); it starts assigned."""
        self._require(principal, "order", data.site)
        now = now or utcnow()
        if data.deadline <= now:
            raise WorkflowError("the deadline must be in the future", code=422)
        async with self.store.transaction():
            oid = await self._new_order(
                principal, data.site, data.what, data.deadline, data.source, now
            )
        return await self.order(oid)

    async def _new_order(
        self,
        principal: Principal,
        site: str,
        what: str,
        deadline: datetime,
        source: str | None,
        now: datetime,
    ) -> int:
        case = Case(
            status=Status.ASSIGNED, decision=Decision.ORDER_FIX, deadline=deadline, verified=True
        )
        row = {
            "site": site,
            "company": await self._company_of(site),
            "what": what,
            "source": source,
            "issued_by": principal.user,
            "issued_at": iso(now),
            **_case_columns(case),
            "updated_at": iso(now),
        }
        oid = await self._insert("sv_orders", row)
        await self.store.audit(
            principal.user, "order.issue", f"supervision/order/{oid}", None, row, now
        )
        return oid

    async def order(self, oid: int) -> dict[str, Any]:
        return _decode(await self._by_id("sv_orders", "order", oid))

    async def orders(
        self,
        principal: Principal | None = None,
        *,
        site: str | None = None,
        status: str | None = None,
        period: Period | None = None,
    ) -> list[dict[str, Any]]:
        sql, params = _where("issued_at", site=site, status=status, period=period)
        rows = await self._rows(f"SELECT * FROM sv_orders{sql} ORDER BY id", params)
        return [_decode(r) for r in self._visible(principal, rows)]

    async def add_commendation(
        self, principal: Principal, data: CommendationIn, *, now: datetime | None = None
    ) -> dict[str, Any]:
        self._require(principal, "commendation", data.site)
        now = now or utcnow()
        async with self.store.transaction():
            row = {
                "site": data.site,
                "company": await self._company_of(data.site),
                "at": iso(data.at),
                "what": data.what,
                "source": data.source,
                "issued_by": principal.user,
            }
            kid = await self._insert("sv_commendations", row)
            await self.store.audit(
                principal.user,
                "commendation.create",
                f"supervision/commendation/{kid}",
                None,
                row,
                now,
            )
        return {"id": kid, **row}

    async def commendations(self, *, site: str | None = None, period=None) -> list[dict]:
        sql, params = _where("at", site=site, period=period)
        return await self._rows(f"SELECT * FROM sv_commendations{sql} ORDER BY id", params)

    # ------------------------------------------------------------------ violations (hub's)

    async def violations(
        self,
        principal: Principal | None = None,
        *,
        site: str | None = None,
        period: Period | None = None,
        type: str | None = None,
        vid: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The hub's violations with their supervision case (status 'new' until triaged).

        Oldest first, all of them; with ``limit``, the newest ``limit`` ones, newest first.
        """
        clauses, params = [], []
        if principal is not None and principal.sites is not None:
            clauses.append(f"v.site IN ({','.join('?' * len(principal.sites))})")
            params.extend(sorted(principal.sites))
        if vid:
            clauses.append("v.id = ?")
            params.append(vid)
        if site:
            clauses.append("v.site = ?")
            params.append(site)
        if type:
            clauses.append("v.type = ?")
            params.append(type)
        if period:
            clauses.append("v.opened_at >= ? AND v.opened_at < ?")
            params.extend(_period_bounds(period))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._rows(
            "SELECT v.*, c.status AS case_status, c.decision, c.deadline, c.rectified_at,"
            " c.closed_at AS case_closed_at, c.overdue_since, c.escalations, c.verified, c.note,"
            " c.rectification, c.order_id"
            " FROM violations v LEFT JOIN sv_violation_cases c ON c.violation_id = v.id"
            f"{where} ORDER BY v.opened_at {'DESC' if limit else 'ASC'}, v.id LIMIT ?",
            [*params, limit or -1],
        )
        out = []
        for row in self._visible(principal, rows):
            row["hub_status"] = row.pop("status")
            row["status"] = row.pop("case_status") or Status.NEW.value
            row["evidence"] = json.loads(row["evidence"])
            row["rectification"] = json.loads(row["rectification"] or "[]")
            out.append(row)
        return out

    async def devices(
        self, principal: Principal | None, period: Period, as_of: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The hub's devices with their outages in the period (service faults).

        ``online`` is the device's state now, so it is left out (None) when ``as_of`` is in
        the past: a past period's report must not show today's state as if it were then's.
        """
        now = utcnow()
        as_of = min(as_of or now, period.end)
        past = now - as_of > timedelta(minutes=5)
        outages: dict[tuple[str, str], list[float]] = {}
        for v in await self.violations(principal, period=period, type="device_offline"):
            record = _violation_record(v)
            if record.counts and v["device"]:
                hours = outage_hours(record, period, as_of)
                outages.setdefault((v["site"], v["device"]), []).append(hours)
        rows = self._visible(principal, await self.store.devices())
        for row in rows:
            found = outages.get((row["site"], row["device"]), [])
            row["outages"] = len(found)
            row["offline_hours"] = round(sum(found), 2)
            row["online"] = None if row["online"] is None or past else bool(row["online"])
        return rows

    async def _ensure_violation_case(self, vid: str, now: datetime) -> None:
        rows = await self._rows(
            "SELECT site, company FROM violations WHERE id = ?", [vid], self.store.db
        )
        if not rows:
            raise NotFound(f"no violation {vid}")
        await self.store.db.execute(
            "INSERT OR IGNORE INTO sv_violation_cases (violation_id, site, company, updated_at)"
            " VALUES (?, ?, ?, ?)",
            (vid, rows[0]["site"], rows[0]["company"], iso(now)),
        )

    # ------------------------------------------------------------------ workflow

    async def act(
        self,
        principal: Principal,
        kind: str,
        ref: str | int,
        step: ActionIn,
        *,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Apply one workflow step to a violation, complaint or order; audited.

        Triage with ``order_fix`` issues a rectification order linked to the case; steps on
        that order (rectify, verify, reject, overdue, escalate) move the case along with it.
        """
        if kind not in CASE_TABLES:
            raise NotFound(f"no workflow for {kind!r}")
        now = now or utcnow()
        async with self.store.transaction():
            if kind == "violation":
                await self._ensure_violation_case(str(ref), now)
            await self._transition(principal, kind, ref, step, now)
        return await self.case(kind, ref)

    async def case(self, kind: str, ref: str | int) -> dict[str, Any]:
        if kind == "violation":
            found = await self.violations(vid=str(ref))
            if not found:
                raise NotFound(f"no violation {ref}")
            return found[0]
        return await (self.complaint(int(ref)) if kind == "complaint" else self.order(int(ref)))

    async def _load_case(self, kind: str, ref: str | int) -> dict[str, Any]:
        table, key = CASE_TABLES[kind], _KEY[kind]
        rows = await self._rows(f"SELECT * FROM {table} WHERE {key} = ?", [ref], self.store.db)
        if not rows:
            raise NotFound(f"no {kind} {ref}")
        return rows[0]

    async def _transition(
        self,
        principal: Principal,
        kind: str,
        ref: str | int,
        step: ActionIn,
        now: datetime,
        *,
        via_order: bool = False,
    ) -> Case:
        row = await self._load_case(kind, ref)
        if not principal.may_see(row["site"]):
            raise WorkflowError(f"{principal.user} may not act for community {row['site']}", 403)
        if row.get("order_id") and step.action in _ORDER_STEPS and not via_order:
            raise WorkflowError(f"{kind} {ref} has order {row['order_id']}: act on the order")
        before = _case_of(row)
        repeats = await self._repeats(kind, row, now) if step.action is Action.TRIAGE else 0
        after = apply(
            before,
            step.action,
            principal.role,
            now,
            decision=step.decision,
            deadline=step.deadline,
            note=step.note,
            policy=self.policy,
            repeats=repeats,
        )
        changes = _case_columns(after)
        evidence = json.loads(row["rectification"])
        if step.evidence:
            evidence += [{"at": iso(now), "by": principal.user, "ref": e} for e in step.evidence]
            changes["rectification"] = json.dumps(evidence, ensure_ascii=False)
        if kind != "order" and after.decision is Decision.ORDER_FIX and row["order_id"] is None:
            assert after.deadline is not None
            what = step.note or f"rectify {kind} {ref}"
            changes["order_id"] = await self._new_order(
                principal, row["site"], what, after.deadline, f"{kind}:{ref}", now
            )
        changes["updated_at"] = iso(now)
        table, key = CASE_TABLES[kind], _KEY[kind]
        await self.store.db.execute(
            f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in changes)} WHERE {key} = ?",
            (*changes.values(), ref),
        )
        await self.store.audit(
            principal.user,
            f"{kind}.{step.action.value}",
            f"supervision/{kind}/{ref}",
            {**asdict(before), "role": principal.role.value},
            {**changes, "repeats": repeats},
            now,
        )
        await self._follow_order(principal, kind, row, step, after, now)
        return after

    async def _follow_order(
        self,
        principal: Principal,
        kind: str,
        row: dict[str, Any],
        step: ActionIn,
        after: Case,
        now: datetime,
    ) -> None:
        """An order's progress moves the violation or complaint it was issued for."""
        if kind != "order" or not row["source"]:
            return
        source_kind, _, source_ref = row["source"].partition(":")
        if source_kind not in ("violation", "complaint"):
            return
        source = await self._load_case(source_kind, source_ref)
        if step.action is Action.REJECT and source["status"] != Status.RECTIFIED:
            return
        follow = ActionIn(
            action=step.action,
            decision=after.decision if step.action is Action.TRIAGE else None,
            deadline=after.deadline if step.action is Action.TRIAGE else None,
            note=f"order {row['id']}: {step.note}".strip(": "),
        )
        # a case already moved on by hand stays as it is: the order is the record that counts
        with contextlib.suppress(WorkflowError):
            await self._transition(principal, source_kind, source_ref, follow, now, via_order=True)

    async def _repeats(self, kind: str, row: dict[str, Any], now: datetime) -> int:
        """Earlier cases of the same kind and type at the same community, recently."""
        since = iso(now - timedelta(days=REPEAT_WINDOW_DAYS))
        if kind == "violation":
            rows = await self._rows(
                "SELECT count(*) AS n FROM violations WHERE site = ? AND type ="
                " (SELECT type FROM violations WHERE id = ?) AND id != ? AND opened_at >= ?",
                [row["site"], row["violation_id"], row["violation_id"], since],
                self.store.db,
            )
        elif kind == "complaint":
            rows = await self._rows(
                "SELECT count(*) AS n FROM sv_complaints WHERE site = ? AND category = ?"
                " AND id != ? AND received_at >= ? AND status != 'dismissed'",
                [row["site"], row["category"], row["id"], since],
                self.store.db,
            )
        else:
            return 0
        return int(rows[0]["n"])

    async def tick(self, now: datetime | None = None) -> int:
        """The deadline watchdog: mark overdue and escalate what is due; return how many."""
        now = now or utcnow()
        done = 0
        for kind, table in CASE_TABLES.items():
            key = _KEY[kind]
            marks = ",".join("?" * len(OPEN_STATES))
            rows = await self._rows(
                f"SELECT * FROM {table} WHERE status IN ({marks})", [s.value for s in OPEN_STATES]
            )
            for row in rows:
                action = due_action(_case_of(row), now, self.policy)
                if action is None:
                    continue
                note = "deadline passed" if action is Action.MARK_OVERDUE else "overdue too long"
                async with self.store.transaction():
                    await self._transition(
                        SYSTEM, kind, row[key], ActionIn(action=action, note=note), now
                    )
                done += 1
        return done

    async def audit_trail(self, kind: str, ref: str | int) -> list[dict[str, Any]]:
        return await self.store.audit_log(target=f"supervision/{kind}/{ref}")

    # ------------------------------------------------------------------ scoring input

    async def records(self, period: Period) -> list[Record]:
        """Every record of the half year, as the scoring function takes them."""
        out: list[Record] = []
        for v in await self.violations(period=period):
            out.append(_violation_record(v))
        for c in await self.complaints(period=period):
            out.append(_complaint_record(c))
        for i in await self.inspections(period=period):
            out.append(_inspection_record(i))
        for o in await self.orders(period=period):
            out.append(_order_record(o))
        for k in await self.commendations(period=period):
            out.append(
                Record(
                    id=f"commendation:{k['id']}",
                    kind=RecordKind.COMMENDATION,
                    company=k["company"],
                    site=k["site"],
                    type="commendation",
                    at=from_iso(k["at"]),
                    detail=k["what"],
                )
            )
        return out

    # ------------------------------------------------------------------ published ratings

    async def save_rating(self, rows: list[dict[str, Any]], principal: Principal, now) -> None:
        async with self.store.transaction():
            for row in rows:
                full = {**row, "published_at": iso(now), "published_by": principal.user}
                await self.store.db.execute(
                    "INSERT OR REPLACE INTO sv_ratings (period, company, standard_version,"
                    " score, level, rank, published_at, published_by, items)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    tuple(
                        full[k]
                        for k in (
                            "period",
                            "company",
                            "standard_version",
                            "score",
                            "level",
                            "rank",
                            "published_at",
                            "published_by",
                            "items",
                        )
                    ),
                )
                await self.store.audit(
                    principal.user,
                    "rating.publish",
                    f"supervision/rating/{row['period']}/{row['company']}",
                    None,
                    {k: v for k, v in full.items() if k != "items"},
                    now,
                )

    async def published_ratings(self, period: Period) -> list[dict[str, Any]]:
        rows = await self._rows(
            "SELECT * FROM sv_ratings WHERE period = ? ORDER BY rank, company", [str(period)]
        )
        for row in rows:
            row["items"] = json.loads(row["items"])
        return rows


# ---------------------------------------------------------------------- rows -> records


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    if "rectification" in row:
        row["rectification"] = json.loads(row["rectification"])
    if "verified" in row:
        row["verified"] = bool(row["verified"])
    return row


def _where(time_column: str, *, period: Period | None = None, **equal: Any) -> tuple[str, list]:
    clauses = [f"{k} = ?" for k, v in equal.items() if v is not None]
    params: list[Any] = [v for v in equal.values() if v is not None]
    if period is not None:
        clauses.append(f"{time_column} >= ? AND {time_column} < ?")
        params.extend(_period_bounds(period))
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), params


def _refs(rectification: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(str(e["ref"]) for e in rectification)


def _scored_deadline(row: dict[str, Any]) -> datetime | None:
    """The deadline a case is scored against: a missed deadline stays missed, even when the
    regulator later sets a new one (``overdue_since`` keeps the first one missed)."""
    return from_iso(row.get("overdue_since")) or from_iso(row["deadline"])


def _violation_record(v: dict[str, Any]) -> Record:
    """A hub violation: its events are the evidence. Repairs and outages end when the device
    says so (the hub closed it) or when the company rectified it, whichever is first."""
    ends = [t for t in (from_iso(v["closed_at"]), from_iso(v["rectified_at"])) if t]
    has_order = v["order_id"] is not None
    return Record(
        id=f"violation:{v['id']}",
        kind=RecordKind.VIOLATION,
        company=v["company"],
        site=v["site"],
        type=v["type"],
        severity=v["severity"],
        at=from_iso(v["opened_at"]),
        counts=v["status"] != Status.DISMISSED,
        verified=bool(v["verified"]),
        # an order carries the deadline itself; never count one lateness twice
        deadline=None if has_order else _scored_deadline(v),
        rectified_at=min(ends) if ends else None,
        evidence=tuple(v["evidence"]) + _refs(v["rectification"]),
        detail=v["detail"],
    )


def _complaint_record(c: dict[str, Any]) -> Record:
    return Record(
        id=f"complaint:{c['id']}",
        kind=RecordKind.COMPLAINT,
        company=c["company"],
        site=c["site"],
        type=c["category"],
        severity=c["severity"],
        at=from_iso(c["received_at"]),
        counts=c["status"] != Status.DISMISSED,
        verified=bool(c["verified"]),
        deadline=None if c["order_id"] is not None else _scored_deadline(c),
        rectified_at=from_iso(c["rectified_at"]),
        evidence=_refs(c["rectification"]),
        detail=f"{c['what']} @ {c['location']}".strip(" @"),
    )


def _inspection_record(i: dict[str, Any]) -> Record:
    return Record(
        id=f"inspection:{i['id']}",
        kind=RecordKind.INSPECTION,
        company=i["company"],
        site=i["site"],
        type=i["kind"],
        at=from_iso(i["date"]),
        checklist=tuple(
            CheckItem(
                code=it["code"],
                label=it["label"],
                severity=it["severity"],
                passed=it["passed"],
                note=it["note"],
            )
            for it in i["items"]
        ),
        detail=f"{i['inspector']}: {i['summary']}".strip(": "),
    )


def _order_record(o: dict[str, Any]) -> Record:
    return Record(
        id=f"order:{o['id']}",
        kind=RecordKind.ORDER,
        company=o["company"],
        site=o["site"],
        type="rectification",
        at=from_iso(o["issued_at"]),
        counts=o["status"] != Status.DISMISSED,
        deadline=_scored_deadline(o),
        rectified_at=from_iso(o["rectified_at"]),
        evidence=((o["source"],) if o["source"] else ()) + _refs(o["rectification"]),
        detail=o["what"],
    )
