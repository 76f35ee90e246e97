"""Request plumbing shared by pages and API: the console's state, who is asking, CSRF."""

from __future__ import annotations

import asyncio
import functools
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pwdlib import PasswordHash

from hub.console import i18n
from hub.console.roles import ConsoleUser, Permission
from hub.console.supervision_view import Supervision
from hub.console.users import Session, UserStore
from hub.service import Hub
from hub.store import Store
from models.site import SiteConfig

SESSION_COOKIE = "anju_session"
LOGIN_CSRF_COOKIE = "anju_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TEMPLATES = Path(__file__).parent / "templates"


DEFAULT_TZ = "Asia/Shanghai"


def local_time(
    when: datetime | str | None, tz: str = DEFAULT_TZ, fmt: str = "%m-%d %H:%M:%S"
) -> str:
    """A stored (UTC, ISO) time as the community's local time; "—" when there is none."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when) if when else None
    return when.astimezone(ZoneInfo(tz)).strftime(fmt) if when else "—"


class LoginRequired(Exception):
    """A page asked for without a session: the handler redirects to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


@dataclass
class ConsoleState:
    hub: Hub
    sites: dict[str, SiteConfig]
    secure_cookies: bool
    command_timeout_s: float
    poll_s: float
    templates: Jinja2Templates
    hasher: PasswordHash | None = None
    users: UserStore | None = None
    supervision: Supervision | None = None
    _ready: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def store(self) -> Store:
        if self.hub.store is None:
            raise HTTPException(503, "the hub is not running")
        return self.hub.store

    async def ready(self) -> ConsoleState:
        """Create the console's tables and the supervision repo once (first request)."""
        if self.users is None:
            async with self._ready:
                if self.users is None:
                    companies = {s: c.site.company.id for s, c in self.sites.items()}
                    self.supervision = await Supervision.open(self.store, list(self.sites.values()))
                    kw = {"hasher": self.hasher} if self.hasher else {}
                    self.users = await UserStore.open(self.store, companies, **kw)
        return self

    def site_ids(self) -> list[str]:
        return list(self.sites)


def state_of(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def record_link(rid: str) -> Markup:
    """A score item's record id as a link to where the console shows it (else as text)."""
    kind, _, ref = rid.partition(":")
    words = f"{i18n.text('case' if kind == 'violation' else kind, kind)} {ref[:8]}"
    if kind == "violation":
        return Markup('<a class="rec" href="/violations/{}">{}</a>').format(ref, words)
    return Markup('<span class="rec" title="{}">{}</span>').format(rid, words)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.globals.update(
        t=i18n.label,
        tz=i18n.plain,
        code=i18n.code,
        type_label=i18n.type_label,
        status_label=i18n.status_label,
        rule_label=i18n.rule_label,
        record_link=record_link,
        lang=i18n.lang,
        Permission=Permission,
    )
    return templates


async def session_of(request: Request) -> Session | None:
    """The request's session (cached on the request)."""
    if "console_session" not in request.scope:
        state = await state_of(request).ready()
        assert state.users is not None
        token = request.cookies.get(SESSION_COOKIE, "")
        request.scope["console_session"] = await state.users.session(token) if token else None
    session: Session | None = request.scope["console_session"]
    return session


async def api_user(request: Request) -> ConsoleUser:
    session = await session_of(request)
    if session is None:
        raise HTTPException(401, "log in first")
    return session.user


async def page_user(request: Request) -> ConsoleUser:
    session = await session_of(request)
    if session is None:
        raise LoginRequired(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
    return session.user


def require(user: ConsoleUser, permission: Permission) -> None:
    if not user.can(permission):
        raise HTTPException(403, f"role {user.role} may not {permission}")


def pick_site(request: Request, user: ConsoleUser, site: str | None) -> SiteConfig:
    """The community asked for (or the user's first), if the user may see it."""
    state = state_of(request)
    visible = user.visible(state.site_ids())
    if not visible:
        raise HTTPException(403, "no community is visible to this user")
    site = site or visible[0]
    if site not in state.sites:
        raise HTTPException(404, f"unknown community {site!r}")
    if not user.may_see(site):
        raise HTTPException(403, f"{user.username} may not see community {site}")
    return state.sites[site]


def same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


async def csrf_guard(request: Request) -> None:
    """App-wide dependency: every state-changing request carries the session's CSRF token
    (header X-CSRF-Token for scripts, form field csrf_token for forms). The login form,
    having no session yet, uses a double-submit cookie instead."""
    if request.method not in UNSAFE_METHODS:
        return
    if request.url.path == "/login":
        sent = await _sent_token(request)
        if not same(sent, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
            raise HTTPException(403, "CSRF check failed: reload the login page")
        return
    session = await session_of(request)
    if session is None:
        raise HTTPException(401, "log in first")
    if not same(await _sent_token(request), session.csrf_token):
        raise HTTPException(403, "CSRF check failed")


async def _sent_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette caches it for the endpoint
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


def page_context(request: Request, user: ConsoleUser, page: str, **extra: Any) -> dict[str, Any]:
    state = state_of(request)
    session = request.scope.get("console_session")
    visible = user.visible(state.site_ids())
    site = extra.get("site")
    tz = site.site.timezone if site is not None else DEFAULT_TZ
    return {
        "local": functools.partial(local_time, tz=tz),
        "request": request,
        "user": user,
        "page": page,
        "csrf": session.csrf_token if session else "",
        "sites": [state.sites[s] for s in visible],
        "labels": i18n.labels_json(),
        **extra,
    }
