"""Server-rendered pages (Jinja2); the live parts are filled by static/console.js."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.console import i18n, queries, views
from hub.console.roles import ConsoleUser, Permission
from hub.console.supervision_view import allowed_actions, history_rows, page_of
from hub.console.users import SESSION_TTL, LoginError
from hub.console.web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    client_of,
    page_context,
    page_user,
    pick_site,
    require,
    session_of,
    state_of,
)
from models.messages import utcnow

router = APIRouter()


def _render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    response: Response = state_of(request).templates.TemplateResponse(
        request, template, context, status_code=status
    )
    return response


def _safe_next(target: str | None) -> str:
    # only same-site paths, never "//host" or a full URL
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/live"


# ---------------------------------------------------------------------- login


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/live", error: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    response = _render(
        request, "login.html", {"request": request, "csrf": token, "next": _safe_next(next),
                                "error": error, "page": "login"},
    )  # fmt: skip
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
        secure=state_of(request).secure_cookies, path="/login", max_age=3600,
    )  # fmt: skip
    return response


@router.post("/login")
async def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    next: str = Form("/live"),
) -> Response:
    state = await state_of(request).ready()
    assert state.users is not None
    try:
        session = await state.users.login(username, password, client=client_of(request))
    except LoginError as exc:
        token = secrets.token_urlsafe(32)
        message = (
            "账户已锁定 / account locked"
            if exc.locked_until
            else "用户名或密码错误 / wrong user name or password"
        )
        if exc.locked_until:
            message += f" — {views.local(exc.locked_until, fmt='%H:%M')}"
        response = _render(
            request, "login.html", {"request": request, "csrf": token, "next": _safe_next(next),
                                    "error": message, "page": "login"},
            status=429 if exc.locked_until else 401,
        )  # fmt: skip
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
            secure=state.secure_cookies, path="/login", max_age=3600,
        )  # fmt: skip
        return response
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, session.token, httponly=True, samesite="strict",
        secure=state.secure_cookies, path="/", max_age=int(SESSION_TTL.total_seconds()),
    )  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = await session_of(request)
    state = state_of(request)
    if session is not None and state.users is not None:
        await state.users.logout(session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---------------------------------------------------------------------- pages


@router.get("/")
async def home(user: ConsoleUser = Depends(page_user)) -> Response:
    return RedirectResponse("/live", status_code=303)


@router.get("/live", response_class=HTMLResponse)
async def live(
    request: Request, site: str | None = None, user: ConsoleUser = Depends(page_user)
) -> Response:
    config = pick_site(request, user, site)
    state = state_of(request)
    return _render(
        request,
        "live.html",
        page_context(
            request, user, "live", site=config,
            gates=await views.gates(state, config),
            devices=await queries.devices(state.store, [config.site.id]),
            hub_health=state.hub.health.report(utcnow()),
            can_command=user.can(Permission.GATE_COMMAND),
        ),
    )  # fmt: skip


@router.get("/carpark", response_class=HTMLResponse)
async def carpark(
    request: Request, site: str | None = None, user: ConsoleUser = Depends(page_user)
) -> Response:
    config = pick_site(request, user, site)
    data = await views.carpark_data(state_of(request), config, utcnow())
    return _render(
        request, "carpark.html",
        page_context(request, user, "carpark", site=config, park=data),
    )  # fmt: skip


@router.get("/violations", response_class=HTMLResponse)
async def violations(
    request: Request,
    site: str | None = None,
    q: str = "",
    status: str = "",
    type: str = "",
    page: int = 1,
    user: ConsoleUser = Depends(page_user),
) -> Response:
    from urllib.parse import urlencode

    from hub.supervision.labels import STATUSES, VIOLATION_TYPES

    config = pick_site(request, user, site)
    sv = state_of(request).supervision
    cases = await sv.queue(user, config.site.id) if sv and sv.repo else []
    names = {g.id: g.name or g.id for g in config.gates}
    for c in cases:
        c["gate_name"] = names.get(c.get("gate") or "", c.get("gate") or c.get("device") or "")
    counts = {
        "overdue": sum(c["deadline_state"] == "overdue" for c in cases),
        "due_soon": sum(c["deadline_state"] == "due_soon" for c in cases),
        "todo": sum(bool(c["todo"]) for c in cases),
    }
    shown, pages = page_of(cases, q=q, status=status, vtype=type, page=page)
    filters = {"site": config.site.id, "q": q, "status": status, "type": type}

    def query(**change: Any) -> str:
        return urlencode({k: v for k, v in {**filters, **change}.items() if v})

    return _render(
        request, "violations.html",
        page_context(request, user, "violations", site=config, cases=shown, total=len(cases),
                     counts=counts, pages=pages, page_no=min(max(page, 1), pages), f=filters,
                     query=query, statuses=list(STATUSES), types=list(VIOLATION_TYPES),
                     supervision_ok=bool(sv and sv.repo)),
    )  # fmt: skip


@router.get("/violations/{vid}", response_class=HTMLResponse)
async def violation(
    request: Request, vid: str, msg: str = "", error: str = "",
    user: ConsoleUser = Depends(page_user),
) -> Response:  # fmt: skip
    from hub.console.api import _case_for

    state = state_of(request)
    case = await _case_for(request, user, vid)
    config = state.sites[case["site"]]
    assert state.supervision is not None
    names = {g.id: g.name or g.id for g in config.gates}
    fixes = list(case.get("rectification") or [])
    if case.get("order_id") and state.supervision.repo is not None:  # the fix is on the order
        fixes += (await state.supervision.repo.order(case["order_id"])).get("rectification") or []
    photos = [
        e["ref"].removeprefix("photo:")
        for e in fixes
        if isinstance(e, dict) and str(e.get("ref", "")).startswith("photo:")
    ]
    actions = allowed_actions(case["status"], user.principal().role)
    if not user.can(Permission.CASE_WORKFLOW):
        actions = []
    return _render(
        request, "violation.html",
        page_context(request, user, "violations", site=config, case=case,
                     gate_name=names.get(case.get("gate") or "", case.get("gate") or ""),
                     evidence=await views.evidence(state, case["evidence"], case["site"]),
                     history=history_rows(await state.supervision.trail(vid)),
                     actions=actions, photos=photos, msg=msg, error=error),
    )  # fmt: skip


@router.post("/violations/{vid}/act")
async def violation_act(
    request: Request,
    vid: str,
    action: str = Form(...),
    decision: str = Form(""),
    deadline: str = Form(""),
    note: str = Form(""),
    photo: UploadFile | None = File(None),
    user: ConsoleUser = Depends(page_user),
) -> Response:
    """The detail page's form: one workflow step, with a photo for a fix."""
    from urllib.parse import quote

    from pydantic import ValidationError

    from hub.console.api import _case_for
    from hub.console.photos import PhotoError, save_photo
    from hub.supervision.workflow import WorkflowError

    require(user, Permission.CASE_WORKFLOW)
    state = state_of(request)
    case = await _case_for(request, user, vid)
    assert state.supervision is not None
    back = f"/violations/{quote(vid)}"
    step: dict[str, Any] = {"action": action, "note": note}
    try:
        if action == "triage":
            step["decision"] = decision or "order_fix"
            if deadline:
                step["deadline"] = views.parse_local(deadline, case["site"], state)
        data = await photo.read() if photo is not None else b""
        if data:
            step["evidence"] = [save_photo(state.store.path.parent, case["site"], data)]
        elif action == "rectify":
            raise PhotoError(i18n.text("photo_required"))
        await state.supervision.act(user, vid, step)
    except (WorkflowError, PhotoError, ValueError, ValidationError) as exc:
        text = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        return RedirectResponse(f"{back}?error={quote(text)}", status_code=303)
    return RedirectResponse(f"{back}?msg={quote(i18n.code('act', action))}", status_code=303)


@router.get("/photos/{site}/{name}")
async def photo_file(
    request: Request, site: str, name: str, user: ConsoleUser = Depends(page_user)
) -> Response:
    from fastapi.responses import FileResponse

    from hub.console.photos import photo_path

    path = photo_path(state_of(request).store.path.parent, site, name)
    if path is None or not user.may_see(site):
        raise HTTPException(404, "no such photo")
    return FileResponse(path, media_type="image/png" if name.endswith(".png") else "image/jpeg")


@router.get("/supervision", response_class=HTMLResponse)
async def supervision(request: Request, user: ConsoleUser = Depends(page_user)) -> Response:
    from hub.console.charts import Series, line_chart

    sv = state_of(request).supervision
    data: dict[str, Any] = {}
    chart = None
    if sv and sv.repo:
        data = await sv.ratings(user, user.can(Permission.VIEW_ALL_COMPANIES))
        names = {c: info.get("name", c) for c, info in data["companies"].items()}
        chart = line_chart(
            data["periods"],
            [Series(names.get(c, c), values) for c, values in sorted(data["trend"].items())],
            y_max=100.0, title="score trend",
        )  # fmt: skip
    return _render(
        request, "supervision.html",
        page_context(request, user, "supervision", site=None, data=data, chart=chart,
                     supervision_ok=bool(sv and sv.repo), error=sv.error if sv else "",
                     api=request.app.state.supervision_api),
    )  # fmt: skip


@router.get("/reports/{period}.html")
async def report(request: Request, period: str, user: ConsoleUser = Depends(page_user)) -> Response:
    """The half-year disclosure report (the supervision package renders it)."""
    sv = state_of(request).supervision
    if not (sv and sv.repo):
        raise HTTPException(503, "supervision unavailable")
    try:
        html = await sv.report_html(period)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    store = state_of(request).store
    async with store.transaction():
        await store.audit(user.username, "report.download", f"supervision/report/{period}",
                          None, None, utcnow())  # fmt: skip
    # opens in the browser (the supervision page links it in a new tab); saving still works
    headers = {"Content-Disposition": f'inline; filename="anju-report-{period}.html"'}
    return HTMLResponse(html, headers=headers)


@router.get("/lists", response_class=HTMLResponse)
async def lists(
    request: Request, site: str | None = None, user: ConsoleUser = Depends(page_user)
) -> Response:
    config = pick_site(request, user, site)
    data = await views.lists(state_of(request), config, utcnow())
    return _render(
        request, "lists.html",
        page_context(request, user, "lists", site=config, lists=data,
                     can_pass=user.can(Permission.CREATE_PASS), now_iso=utcnow().isoformat()),
    )  # fmt: skip


@router.get("/audit", response_class=HTMLResponse)
async def audit(
    request: Request, q: str = "", actor: str = "", page: int = 1,
    user: ConsoleUser = Depends(page_user),
) -> Response:  # fmt: skip
    from urllib.parse import urlencode

    from hub.console.supervision_view import audit_words

    require(user, Permission.VIEW_AUDIT)
    per_page, page = 50, max(page, 1)
    found = await queries.audit_rows(
        state_of(request).store, limit=per_page + 1, offset=(page - 1) * per_page,
        actor=actor or None, q=q,
    )  # fmt: skip
    rows = [{**r, **audit_words(r)} for r in found[:per_page]]
    filters = {"q": q, "actor": actor}

    def query(**change: Any) -> str:
        return urlencode({k: v for k, v in {**filters, **change}.items() if v})

    return _render(
        request, "audit.html",
        page_context(request, user, "audit", site=None, rows=rows, f=filters, query=query,
                     page_no=page, more=len(found) > per_page),
    )  # fmt: skip


@router.get("/users", response_class=HTMLResponse)
async def users(request: Request, user: ConsoleUser = Depends(page_user)) -> Response:
    require(user, Permission.MANAGE_USERS)
    state = await state_of(request).ready()
    assert state.users is not None
    return _render(
        request, "users.html",
        page_context(request, user, "users", site=None, accounts=await state.users.users(),
                     all_sites=list(state.sites.values())),
    )  # fmt: skip
