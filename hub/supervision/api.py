"""REST API for supervision records, the workflow, ratings and the report (FastAPI router).

The app that includes ``router`` says who is calling and where the records are::

    app.state.authenticate = async def (request) -> Principal   # e.g. the console session
    app.state.supervision_repo = repo          # or app.state.supervision_repo_of(request)
    app.state.scoring_standard = load_standard()          # optional, v1 by default

Without ``authenticate`` every call is refused (503): there is no default identity.

Scores are exact decimals and come back as strings ("76.00").
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Awaitable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from hub.supervision.domain import (
    ActionIn,
    CommendationIn,
    ComplaintIn,
    InspectionIn,
    OrderIn,
    Principal,
    shield_reporter,
    visible_companies,
)
from hub.supervision.periods import Period, PeriodError
from hub.supervision.rating import compute_rating
from hub.supervision.repo import NotFound, SupervisionRepo
from hub.supervision.standard import ScoringStandard, load_standard
from hub.supervision.workflow import Role, WorkflowError
from models.messages import utcnow

T = TypeVar("T")

router = APIRouter(prefix="/api/supervision", tags=["supervision"])


# ------------------------------------------------------------------------------ dependencies


async def get_principal(request: Request) -> Principal:
    """Who is calling, as the including app's ``authenticate`` says (it raises 401/403)."""
    authenticate = getattr(request.app.state, "authenticate", None)
    if authenticate is None:
        raise HTTPException(503, "no authentication is configured for the supervision API")
    principal: Principal = await authenticate(request)
    if principal.role is Role.SYSTEM:
        raise HTTPException(403, "the system role is not for callers")
    return principal


async def get_repo(request: Request) -> SupervisionRepo:
    state = request.app.state
    repo = getattr(state, "supervision_repo", None)
    if repo is None and (repo_of := getattr(state, "supervision_repo_of", None)) is not None:
        repo = await repo_of(request)
    if repo is None:
        raise HTTPException(503, "supervision records are not available")
    found: SupervisionRepo = repo
    return found


def get_standard(request: Request) -> ScoringStandard:
    standard = getattr(request.app.state, "scoring_standard", None)
    if standard is None:
        standard = request.app.state.scoring_standard = load_standard()
    return standard


Who = Annotated[Principal, Depends(get_principal)]
Repo = Annotated[SupervisionRepo, Depends(get_repo)]
Standard = Annotated[ScoringStandard, Depends(get_standard)]


def _companies_for(who: Principal, companies: dict[str, dict[str, Any]]) -> set[str]:
    """As in the console: the regulator and admins see every company, others the companies
    managing the communities they see."""
    return visible_companies(who, companies, all_companies=who.role in (Role.REGULATOR, Role.ADMIN))


def _period(text: str | None) -> Period | None:
    if text is None:
        return None
    try:
        return Period.parse(text)
    except PeriodError as exc:
        raise HTTPException(422, str(exc)) from None


def _require_period(text: str) -> Period:
    period = _period(text)
    assert period is not None
    return period


async def _call(coro: Awaitable[T]) -> T:
    """Domain errors as HTTP answers."""
    try:
        return await coro
    except WorkflowError as exc:
        raise HTTPException(exc.code, str(exc)) from None
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None


def _see(principal: Principal, row: dict[str, Any]) -> dict[str, Any]:
    if not principal.may_see(row["site"]):
        raise HTTPException(404, "not found")
    return row


# ------------------------------------------------------------------------------ communities


@router.get("/communities", summary="Communities (小区) and their managing company")
async def communities(who: Who, repo: Repo) -> list[dict[str, Any]]:
    return await repo.sites(who)


@router.get("/companies", summary="Property-management companies")
async def companies(who: Who, repo: Repo) -> list[dict[str, Any]]:
    rows = await repo.companies()
    visible = _companies_for(who, {r["id"]: r for r in rows})
    return [r for r in rows if r["id"] in visible]


@router.get("/devices", summary="Devices and their outages in a half year (service faults)")
async def devices(who: Who, repo: Repo, period: str | None = None) -> list[dict[str, Any]]:
    chosen = _period(period) or Period.of(utcnow())
    return await repo.devices(who, chosen)


# ------------------------------------------------------------------------------ violations


@router.get("/violations", summary="Violations from device rules, with their workflow state")
async def violations(
    who: Who,
    repo: Repo,
    site: str | None = None,
    period: str | None = None,
    type: str | None = None,
    limit: int = Query(1000, ge=1, le=10000),
) -> list[dict[str, Any]]:
    return await repo.violations(who, site=site, period=_period(period), type=type, limit=limit)


@router.get("/violations/{vid}")
async def violation(vid: str, who: Who, repo: Repo) -> dict[str, Any]:
    return _see(who, await _call(repo.case("violation", vid)))


@router.post("/violations/{vid}/actions", summary="Triage, rectify, verify, ... a violation")
async def violation_action(vid: str, step: ActionIn, who: Who, repo: Repo) -> dict[str, Any]:
    return await _call(repo.act(who, "violation", vid, step))


# ------------------------------------------------------------------------------ complaints


@router.get("/complaints", summary="Public reports (受理举报)")
async def complaints(
    who: Who,
    repo: Repo,
    site: str | None = None,
    status: str | None = None,
    period: str | None = None,
) -> list[dict[str, Any]]:
    return await repo.complaints(who, site=site, status=status, period=_period(period))


@router.post("/complaints", status_code=201)
async def add_complaint(data: ComplaintIn, who: Who, repo: Repo) -> dict[str, Any]:
    return shield_reporter(who, await _call(repo.add_complaint(who, data)))


@router.get("/complaints/{cid}")
async def complaint(cid: int, who: Who, repo: Repo) -> dict[str, Any]:
    return shield_reporter(who, _see(who, await _call(repo.complaint(cid))))


@router.post("/complaints/{cid}/actions")
async def complaint_action(cid: int, step: ActionIn, who: Who, repo: Repo) -> dict[str, Any]:
    return shield_reporter(who, await _call(repo.act(who, "complaint", cid, step)))


# ------------------------------------------------------------------------------ inspections


@router.get("/inspections", summary="Open inspections, unannounced visits, spot checks")
async def inspections(
    who: Who, repo: Repo, site: str | None = None, period: str | None = None
) -> list[dict[str, Any]]:
    return await repo.inspections(who, site=site, period=_period(period))


@router.post("/inspections", status_code=201)
async def add_inspection(data: InspectionIn, who: Who, repo: Repo) -> dict[str, Any]:
    return await _call(repo.add_inspection(who, data))


@router.get("/inspections/{iid}")
async def inspection(iid: int, who: Who, repo: Repo) -> dict[str, Any]:
    return _see(who, await _call(repo.inspection(iid)))


# ------------------------------------------------------------------------------ orders


@router.get("/orders", summary="Rectification orders (责令整改)")
async def orders(
    who: Who,
    repo: Repo,
    site: str | None = None,
    status: str | None = None,
    period: str | None = None,
) -> list[dict[str, Any]]:
    return await repo.orders(who, site=site, status=status, period=_period(period))


@router.post("/orders", status_code=201)
async def issue_order(data: OrderIn, who: Who, repo: Repo) -> dict[str, Any]:
    return await _call(repo.issue_order(who, data))


@router.get("/orders/{oid}")
async def order(oid: int, who: Who, repo: Repo) -> dict[str, Any]:
    return _see(who, await _call(repo.order(oid)))


@router.post("/orders/{oid}/actions")
async def order_action(oid: int, step: ActionIn, who: Who, repo: Repo) -> dict[str, Any]:
    return await _call(repo.act(who, "order", oid, step))


# ------------------------------------------------------------------------------ other records


@router.get("/commendations", summary="Good credit information (表扬)")
async def commendations(
    who: Who, repo: Repo, site: str | None = None, period: str | None = None
) -> list[dict[str, Any]]:
    rows = await repo.commendations(site=site, period=_period(period))
    return [r for r in rows if who.may_see(r["site"])]


@router.post("/commendations", status_code=201)
async def add_commendation(data: CommendationIn, who: Who, repo: Repo) -> dict[str, Any]:
    return await _call(repo.add_commendation(who, data))


@router.get("/audit/{kind}/{ref}", summary="Every change of one record: who, when, before/after")
async def audit(kind: str, ref: str, who: Who, repo: Repo) -> list[dict[str, Any]]:
    if kind not in ("violation", "complaint", "order", "inspection", "commendation"):
        raise HTTPException(404, f"no records of kind {kind!r}")
    if who.role not in (Role.REGULATOR, Role.ADMIN):
        if kind == "violation":
            _see(who, await _call(repo.case(kind, ref)))
        elif kind in ("complaint", "order"):
            _see(who, await _call(repo.case(kind, int(ref))))
        else:
            raise HTTPException(403, "only the regulator reads this audit trail")
    rows = await repo.audit_trail(kind, ref)
    for row in rows:
        for side in ("before", "after"):
            if isinstance(row[side], dict):
                row[side] = shield_reporter(who, row[side])
    return rows


@router.post("/tick", summary="Run the deadline watchdog now (admin)")
async def tick(who: Who, repo: Repo) -> dict[str, Any]:
    if who.role is not Role.ADMIN:
        raise HTTPException(403, "admin only")
    return {"moved": await repo.tick()}


# ------------------------------------------------------------------------------ ratings


@router.get("/standard", summary="The scoring standard in force")
async def standard(who: Who, standard: Standard) -> dict[str, Any]:
    return standard.model_dump(mode="json")


@router.get("/ratings/{period}", summary="Half-year scores, levels and ranking")
async def ratings(
    period: str, who: Who, repo: Repo, standard: Standard, as_of: datetime | None = None
) -> dict[str, Any]:
    rating = await compute_rating(repo, _require_period(period), standard, as_of)
    visible = _companies_for(who, rating.companies)
    return {
        "period": str(rating.period),
        "as_of": rating.as_of.isoformat(),
        "standard_version": standard.version,
        "ranking": [
            {
                **r.model_dump(mode="json"),
                "change": None if r.change is None else str(r.change),
                "name": rating.companies.get(r.company, {}).get("name", r.company),
            }
            for r in rating.ranking
            if r.company in visible
        ],
    }


@router.get("/ratings/{period}/published", summary="The rating as published (frozen)")
async def published(period: str, who: Who, repo: Repo) -> list[dict[str, Any]]:
    return await repo.published_ratings(_require_period(period))


@router.get("/ratings/{period}/{company}", summary="One company's score, every point traceable")
async def company_rating(
    period: str,
    company: str,
    who: Who,
    repo: Repo,
    standard: Standard,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    rating = await compute_rating(repo, _require_period(period), standard, as_of)
    if company not in rating.scores or company not in _companies_for(who, rating.companies):
        raise HTTPException(404, f"no company {company!r}")  # another's: as if it did not exist
    score = rating.scores[company].model_dump(mode="json")
    used = {rid for item in rating.scores[company].items for rid in item.record_ids}
    score["records"] = {
        rid: shield_reporter(who, rating.records[rid].model_dump(mode="json"))
        for rid in sorted(used)
    }
    return score


@router.get("/reports/{period}.{fmt}", summary="The publishable disclosure: html, pdf or csv")
async def report(period: str, fmt: str, who: Who, repo: Repo, standard: Standard) -> FileResponse:
    from hub.supervision.report import build_report

    if who.role not in (Role.REGULATOR, Role.ADMIN):
        # before publication the disclosure is the regulator's; companies see their own
        # score (ratings/{period}/{company}) and the published rating
        raise HTTPException(403, "only the regulator writes the disclosure")
    if fmt not in ("html", "pdf", "csv"):
        raise HTTPException(404, "formats: html, pdf, csv")
    data = await build_report(repo, _require_period(period), standard)
    out = Path(tempfile.mkdtemp(prefix="anju-report-"))
    try:
        files = await run_in_threadpool(_write_serialised, data, out, fmt)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    media = {"html": "text/html", "pdf": "application/pdf", "csv": "text/csv"}[fmt]
    return FileResponse(
        files[fmt],
        media_type=media,
        filename=files[fmt].name,
        background=BackgroundTask(shutil.rmtree, out, ignore_errors=True),
    )


_render_lock = threading.Lock()  # matplotlib's pyplot state is global: one report at a time


def _write_serialised(data: Any, out: Path, fmt: str) -> dict[str, Path]:
    from hub.supervision.report import write_report

    with _render_lock:
        return write_report(data, out, formats=frozenset({fmt}))
