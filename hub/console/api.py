"""The console's JSON API (and the live event stream). Every route needs a session; state
changes also need the CSRF token (app-wide dependency in ``web.csrf_guard``)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub.console import queries, views
from hub.console.events import LIVE_KINDS, event_by_id, event_view, events_after, last_seq
from hub.console.events import recent_events as recent
from hub.console.passes import (
    PassError,
    check_pass,
    create_pass,
    qr_payload,
    qr_svg,
    sync_passes,
)
from hub.console.roles import ConsoleRole, ConsoleUser, Permission, ScopeError
from hub.console.web import (
    SESSION_COOKIE,
    ConsoleState,
    api_user,
    pick_site,
    require,
    state_of,
)
from hub.service import CommandError, CommandOutcome, CommandStatus
from models.messages import GateAction, utcnow

router = APIRouter(prefix="/api")
KEEPALIVE_S = 15.0
SESSION_RECHECK_S = 2.0  # a disabled or logged-out user's open stream ends this soon


def _sites(request: Request, user: ConsoleUser, site: str | None) -> list[str]:
    if site:
        return [pick_site(request, user, site).site.id]
    return user.visible(state_of(request).site_ids())


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_default, ensure_ascii=False))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


@router.get("/me")
async def me(request: Request, user: ConsoleUser = Depends(api_user)) -> dict[str, Any]:
    state = state_of(request)
    return {
        "username": user.username,
        "role": user.role.value,
        "sites": [
            {"id": s, "name": state.sites[s].site.name, "name_en": state.sites[s].site.name_en}
            for s in user.visible(state.site_ids())
        ],
        "permissions": sorted(p.value for p in Permission if user.can(p)),
    }


# ---------------------------------------------------------------------- events


@router.get("/events")
async def events(
    request: Request,
    site: str | None = None,
    kind: str | None = None,
    gate: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    user: ConsoleUser = Depends(api_user),
) -> dict[str, Any]:
    state = state_of(request)
    rows = await recent(state.store, _sites(request, user, site), kind=kind, gate=gate, limit=limit)
    names = _gate_names(state)
    return {"events": [event_view(r, names) for r in rows], "kinds": list(LIVE_KINDS)}


def _gate_names(state: ConsoleState) -> dict[str, str]:
    return {g.id: g.name or g.id for config in state.sites.values() for g in config.gates}


@router.get("/events/stream")
async def stream(
    request: Request,
    site: str | None = None,
    kind: str | None = None,
    gate: str | None = None,
    after: int | None = None,
    user: ConsoleUser = Depends(api_user),
) -> StreamingResponse:
    """Server-sent events: every event stored after ``after`` (or after now), as it lands.

    The hub has no in-process hook for newly stored events, so this follows the events
    table by rowid every ``poll_s`` (committed rows only, via the reader connection).
    """
    state = state_of(request)
    sites = _sites(request, user, site)
    last_id = request.headers.get("last-event-id", "")
    start = int(last_id) if last_id.isdigit() else after
    if start is None:
        start = await last_seq(state.store)

    token = request.cookies.get(SESSION_COOKIE, "")

    async def still_allowed() -> bool:
        assert state.users is not None
        session = await state.users.session(token)
        return session is not None and session.user == user

    async def feed() -> AsyncIterator[str]:
        seq, quiet_since, checked = start, time.monotonic(), time.monotonic()
        yield f"retry: 2000\nevent: hello\ndata: {json.dumps({'after': seq})}\n\n"
        while not await request.is_disconnected():
            if time.monotonic() - checked >= SESSION_RECHECK_S:
                checked = time.monotonic()
                if not await still_allowed():  # disabled, logged out, expired, role changed
                    yield "event: logout\ndata: {}\n\n"
                    return
            try:
                rows = await events_after(state.store, sites, seq, kind=kind, gate=gate)
            except (RuntimeError, HTTPException):  # the hub stopped: end the stream
                return
            for row in rows:
                seq = row["seq"]
                data = json.dumps(event_view(row, _gate_names(state)), ensure_ascii=False)
                yield f"id: {seq}\nevent: event\ndata: {data}\n\n"
            if rows:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_S:
                quiet_since = time.monotonic()
                yield ": keepalive\n\n"
            await asyncio.sleep(state.poll_s)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(feed(), media_type="text/event-stream", headers=headers)


@router.get("/events/{event_id}/plate.jpg")
async def plate_crop(
    request: Request, event_id: str, user: ConsoleUser = Depends(api_user)
) -> Response:
    """The plate crop the edge sent with a plate read (evidence thumbnail)."""
    return await _evidence_jpeg(request, event_id, user, kind="plate_read", what="plate crop")


@router.get("/events/{event_id}/face.jpg")
async def face_crop(
    request: Request, event_id: str, user: ConsoleUser = Depends(api_user)
) -> Response:
    """The face crop of a face alarm (blacklisted person, repeated unknown face). Faces are
    shown only as alarm evidence: face matches and enrolments never carry a picture."""
    return await _evidence_jpeg(request, event_id, user, kind="alarm", what="face crop")


async def _evidence_jpeg(
    request: Request, event_id: str, user: ConsoleUser, *, kind: str, what: str
) -> Response:
    row = await event_by_id(state_of(request).store, event_id)
    if row is None or not user.may_see(row["site"]):
        raise HTTPException(404, "no such event")  # the same answer for another community's
    payload = json.loads(row["payload"]) if row["kind"] == kind else {}
    crop = payload.get("crop_jpeg_b64")
    if not crop:
        if row.get("evidence_purged_at"):  # set by the retention job (hub/retention.py)
            raise HTTPException(410, f"the {what} was deleted after the retention period")
        raise HTTPException(404, f"this event has no {what}")
    try:
        data = base64.b64decode(crop, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, "stored crop is not base64") from None
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


# ---------------------------------------------------------------------- devices and gates


@router.get("/devices")
async def devices(
    request: Request, site: str | None = None, user: ConsoleUser = Depends(api_user)
) -> dict[str, Any]:
    state = state_of(request)
    sites = _sites(request, user, site)
    rows = await queries.devices(state.store, sites)
    since = utcnow() - queries.REJECTS_WINDOW
    # every device's rejects, including senders not configured (device "?")
    rejects = [
        {"site": s, "device": d, "reasons": reasons, "total": sum(reasons.values())}
        for (s, d), reasons in (
            await queries.reject_counts(state.store, sites, since=since)
        ).items()
    ]
    health = state.hub.health.report(utcnow())
    return {"devices": rows, "rejects_24h": rejects, "hub": health, "now": utcnow().isoformat()}


@router.get("/gates")
async def gates(
    request: Request, site: str | None = None, user: ConsoleUser = Depends(api_user)
) -> dict[str, Any]:
    config = pick_site(request, user, site)
    return {"site": config.site.id, "gates": await views.gates(state_of(request), config)}


class GateCommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: GateAction
    reason: str = Field(min_length=3, max_length=200)


def outcome_view(outcome: CommandOutcome) -> dict[str, Any]:
    """sent -> acknowledged (the edge did it) or failed (refused, not sent, no ack)."""
    if outcome.ok:
        display = "acknowledged"
    elif outcome.status is CommandStatus.SENT:
        display = "sent"
    else:
        display = "failed"
    detail = outcome.detail
    if outcome.status is CommandStatus.ACKNOWLEDGED and not outcome.ok and outcome.result:
        detail = f"edge answered {outcome.result.value}: {detail}".rstrip(": ")
    return {
        "command_id": outcome.command_id,
        "status": outcome.status.value,
        "display": display,
        "result": outcome.result.value if outcome.result else None,
        "detail": detail,
        "sent_at": outcome.sent_at.isoformat() if outcome.sent_at else None,
        "acked_at": outcome.acked_at.isoformat() if outcome.acked_at else None,
    }


@router.post("/gates/{site}/{gate}/command")
async def gate_command(
    request: Request,
    site: str,
    gate: str,
    body: GateCommandIn,
    user: ConsoleUser = Depends(api_user),
) -> dict[str, Any]:
    """Open or close a gate remotely; waits for the edge's ack (or the timeout).

    The hub records the command, its ack or timeout in ``commands`` and the audit log,
    with the logged-in user as the operator and the mandatory reason.
    """
    require(user, Permission.GATE_COMMAND)
    state = state_of(request)
    config = pick_site(request, user, site)
    device = next((e.id for e in config.edges if gate in e.gates), None)
    if device is None:
        raise HTTPException(404, f"no gate {gate!r} in {site}")
    try:
        outcome = await state.hub.send_gate_command(
            site, device, gate, body.action, body.reason.strip(), user.username,
            timeout_s=state.command_timeout_s,
        )  # fmt: skip
    except CommandError as exc:
        raise HTTPException(400, str(exc)) from None
    return outcome_view(outcome)


@router.get("/commands/{command_id}")
async def command(
    request: Request, command_id: str, user: ConsoleUser = Depends(api_user)
) -> dict[str, Any]:
    row = await state_of(request).store.command(command_id)
    if row is None or not user.may_see(row["site"]):
        raise HTTPException(404, "no such command")
    return row


# ---------------------------------------------------------------------- car park


@router.get("/carpark")
async def carpark(
    request: Request, site: str | None = None, user: ConsoleUser = Depends(api_user)
) -> dict[str, Any]:
    config = pick_site(request, user, site)
    data = await views.carpark_data(state_of(request), config, utcnow())
    data.pop("chart", None)
    return _jsonable(data)


# ---------------------------------------------------------------------- violations


def _supervision(request: Request):
    sv = state_of(request).supervision
    if sv is None or sv.repo is None:
        raise HTTPException(503, f"supervision unavailable: {sv.error if sv else ''}")
    return sv


@router.get("/violations")
async def violations(
    request: Request, site: str | None = None, user: ConsoleUser = Depends(api_user)
) -> dict[str, Any]:
    if site:
        pick_site(request, user, site)
    cases = await _supervision(request).queue(user, site)
    return {"violations": _jsonable(cases)}


async def _case_for(request: Request, user: ConsoleUser, vid: str) -> dict[str, Any]:
    from hub.supervision.repo import NotFound

    try:
        case = await _supervision(request).case(vid)
    except NotFound:
        raise HTTPException(404, "no such violation") from None
    if not user.may_see(case["site"]):
        raise HTTPException(404, "no such violation")
    return case


@router.get("/violations/{vid}")
async def violation(
    request: Request, vid: str, user: ConsoleUser = Depends(api_user)
) -> dict[str, Any]:
    state = state_of(request)
    case = await _case_for(request, user, vid)
    return _jsonable(
        {
            "violation": case,
            "evidence": await views.evidence(state, case["evidence"], case["site"]),
            "history": await _supervision(request).trail(vid),
        }
    )


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str
    decision: str | None = None
    deadline: AwareDatetime | None = None
    note: str = Field(default="", max_length=2000)


@router.post("/violations/{vid}/act")
async def act(
    request: Request, vid: str, step: StepIn, user: ConsoleUser = Depends(api_user)
) -> dict[str, Any]:
    """One workflow step (triage / dismiss / rectify / verify / reject / escalate)."""
    from pydantic import ValidationError

    from hub.supervision.workflow import WorkflowError

    require(user, Permission.CASE_WORKFLOW)
    await _case_for(request, user, vid)
    try:
        case = await _supervision(request).act(user, vid, step.model_dump(exclude_none=True))
    except WorkflowError as exc:
        raise HTTPException(getattr(exc, "code", 409) or 409, str(exc)) from None
    except ValidationError as exc:
        raise HTTPException(422, exc.errors()[0]["msg"]) from None
    return {"violation": _jsonable(case)}


# ---------------------------------------------------------------------- supervision


@router.get("/ratings")
async def ratings(request: Request, user: ConsoleUser = Depends(api_user)) -> dict[str, Any]:
    data = await _supervision(request).ratings(user, user.can(Permission.VIEW_ALL_COMPANIES))
    return _jsonable(
        {
            "period": data["period"],
            "periods": data["periods"],
            "ranking": [r.model_dump(mode="json") for r in data["ranking"]],
            "trend": data["trend"],
        }
    )


# ---------------------------------------------------------------------- lists and passes


@router.get("/lists")
async def lists(
    request: Request, site: str | None = None, user: ConsoleUser = Depends(api_user)
) -> dict[str, Any]:
    config = pick_site(request, user, site)
    return _jsonable(await views.lists(state_of(request), config, utcnow()))


class PassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str
    plate: str
    host_unit: str
    hours: float = 4.0


@router.post("/passes")
async def new_pass(
    request: Request, body: PassIn, user: ConsoleUser = Depends(api_user)
) -> dict[str, Any]:
    require(user, Permission.CREATE_PASS)
    config = pick_site(request, user, body.site)
    try:
        new = check_pass(config.site.id, body.plate, body.host_unit, body.hours, utcnow())
    except PassError as exc:
        raise HTTPException(422, str(exc)) from None
    state = state_of(request)
    row = await create_pass(state.store, new, actor=user.username)
    # The edges decide with the synced list: republish it so the pass works at the gate.
    version = await sync_passes(state.hub, config.site.id, utcnow())
    qr = qr_payload(row["site"], row["id"], row["token"])
    public = {k: v for k, v in row.items() if k != "token"}
    return {**public, "qr_text": qr, "qr_svg": qr_svg(qr), "list_version": version}


# ---------------------------------------------------------------------- audit


@router.get("/audit")
async def audit(
    request: Request,
    limit: int = Query(200, ge=1, le=2000),
    actor: str | None = None,
    user: ConsoleUser = Depends(api_user),
) -> dict[str, Any]:
    require(user, Permission.VIEW_AUDIT)
    return {"audit": await queries.audit_rows(state_of(request).store, limit=limit, actor=actor)}


# ---------------------------------------------------------------------- accounts (admin)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    password: str = Field(min_length=10, max_length=256)
    role: ConsoleRole
    scope: str | None = None
    display_name: str = Field(default="", max_length=100)


@router.get("/users")
async def users(request: Request, user: ConsoleUser = Depends(api_user)) -> dict[str, Any]:
    require(user, Permission.MANAGE_USERS)
    state = await state_of(request).ready()
    assert state.users is not None
    return {"users": await state.users.users()}


@router.post("/users")
async def set_user(
    request: Request, body: UserIn, user: ConsoleUser = Depends(api_user)
) -> dict[str, Any]:
    """Create an account or reset its password and role (ends its sessions)."""
    require(user, Permission.MANAGE_USERS)
    state = await state_of(request).ready()
    assert state.users is not None
    try:
        made = await state.users.set_user(
            body.username, body.password, body.role, body.scope or None,
            actor=user.username, display_name=body.display_name,
        )  # fmt: skip
    except (ScopeError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    return {"username": made.username, "role": made.role.value, "scope": made.scope,
            "sites": sorted(made.sites) if made.sites is not None else None}  # fmt: skip


@router.post("/users/{username}/disable")
async def disable_user(
    request: Request, username: str, user: ConsoleUser = Depends(api_user)
) -> dict[str, Any]:
    require(user, Permission.MANAGE_USERS)
    if username == user.username:
        raise HTTPException(409, "you cannot disable your own account")
    state = await state_of(request).ready()
    assert state.users is not None
    if not await state.users.disable(username, actor=user.username):
        raise HTTPException(404, "no such active account")
    return {"username": username, "disabled": True}


__all__ = ["router"]
_ = ConsoleState  # re-exported type for route modules
