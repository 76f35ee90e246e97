"""The console application: ``create_app(hub, sites)`` and ``serve(app)`` in the hub's loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pwdlib import PasswordHash

from hub.console import api, i18n, pages
from hub.console.limits import DEFAULT_MAX_BYTES, BodyLimit
from hub.console.roles import ConsoleUser
from hub.console.web import (
    ConsoleState,
    LoginRequired,
    api_user,
    csrf_guard,
    make_templates,
    state_of,
)
from hub.http_server import EmbeddedServer
from hub.ops import healthz_response, readyz_response
from hub.service import Hub
from hub.supervision import api as supervision_api
from hub.supervision.domain import Principal
from hub.supervision.repo import SupervisionRepo
from models.site import SiteConfig

log = logging.getLogger(__name__)

# Paths that take photos (rectification evidence, enrolment) may send more than a form.
UPLOAD_LIMITS: dict[str, int] = {"/api/supervision/": 12 * 1024 * 1024}
STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    # everything is served from here; no inline script, no CDN
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_app(
    hub: Hub,
    sites: Sequence[SiteConfig] | None = None,
    *,
    secure_cookies: bool = True,
    command_timeout_s: float = 10.0,
    poll_s: float = 0.5,
    password_hasher: PasswordHash | None = None,
) -> FastAPI:
    """The console for ``hub`` (started or not; pages answer 503 until its store is open).

    ``secure_cookies``: mark cookies Secure (serve over https); False for plain-http
    localhost demos. ``sites``: the communities shown (default: the hub's).
    ``password_hasher``: argon2id with pwdlib's recommended parameters unless given.
    """
    configs = list(sites) if sites is not None else list(hub.sites.values())
    app = FastAPI(
        title="Anju console",
        dependencies=[Depends(csrf_guard)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, to logged-in users only
    )
    app.state.console = ConsoleState(
        hub=hub,
        sites={c.site.id: c for c in configs},
        secure_cookies=secure_cookies,
        command_timeout_s=command_timeout_s,
        poll_s=poll_s,
        templates=make_templates(),
        hasher=password_hasher,
    )
    app.state.supervision_api = None
    app.include_router(pages.router)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/openapi.json", include_in_schema=False)
    async def openapi(user: ConsoleUser = Depends(api_user)) -> dict[str, Any]:
        """The API's description for integrators, behind the login like the API itself."""
        return app.openapi()

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        """Liveness for a load balancer (no login; the same as the ops listener's)."""
        return healthz_response()

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        """503 during a storage fault or a broker outage (status only, no login)."""
        return readyz_response(hub)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    _mount_supervision(app)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    @app.middleware("http")
    async def headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        asked = request.query_params.get("lang")
        token = i18n.LANG.set(i18n.pick_lang(asked, request.cookies.get(i18n.LANG_COOKIE)))
        try:
            response = await call_next(request)
        finally:
            i18n.LANG.reset(token)
        if asked in i18n.LANGS:  # ?lang= switches for the following pages too
            response.set_cookie(
                i18n.LANG_COOKIE, asked, samesite="strict", path="/", max_age=365 * 86400
            )
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.add_middleware(BodyLimit, max_bytes=DEFAULT_MAX_BYTES, per_path=UPLOAD_LIMITS)
    return app


def _mount_supervision(app: FastAPI) -> None:
    """The supervision REST router (``/api/supervision``) under the console's login: the
    session's user is the principal, the console's repo holds the records."""

    async def authenticate(request: Request) -> Principal:
        return (await api_user(request)).principal()

    async def repo_of(request: Request) -> SupervisionRepo | None:
        state = await state_of(request).ready()
        return state.supervision.repo if state.supervision is not None else None

    app.state.authenticate = authenticate
    app.state.supervision_repo_of = repo_of
    app.include_router(supervision_api.router)
    app.state.supervision_api = supervision_api.router.prefix


class ConsoleServer(EmbeddedServer):
    """uvicorn in the running event loop: ``await start()``, ``url``, ``await stop()``."""

    def __init__(
        self,
        app: FastAPI,
        host: str = "127.0.0.1",
        port: int = 8080,
        log_level: str = "warning",
        *,
        trusted_proxies: Sequence[str] = (),
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        # X-Forwarded-For is believed only from the reverse proxies named here (uvicorn
        # would otherwise trust it from 127.0.0.1: anyone on the box could pick their
        # address for the login throttle and the audit log).
        config = uvicorn.Config(
            app, host=host, port=port, log_level=log_level, lifespan="off",
            timeout_graceful_shutdown=1, access_log=False,
            proxy_headers=bool(trusted_proxies),
            forwarded_allow_ips=list(trusted_proxies) if trusted_proxies else None,
            ssl_certfile=str(tls[0]) if tls else None, ssl_keyfile=str(tls[1]) if tls else None,
        )  # fmt: skip
        super().__init__(config, name="console", scheme="https" if tls else "http")


async def serve(
    app: FastAPI, host: str = "127.0.0.1", port: int = 8080, *, log_level: str = "warning"
) -> None:
    """Run the console in the current event loop (so it shares the Hub object) until
    cancelled; on cancel it shuts down cleanly (open event streams end within a second)."""
    server = ConsoleServer(app, host, port, log_level)
    await server.start()
    try:
        await server.wait()
    except asyncio.CancelledError:
        await asyncio.shield(server.stop())
        raise


async def start_console(
    hub: Hub,
    sites: Sequence[SiteConfig] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    secure_cookies: bool = False,
    trusted_proxies: Sequence[str] = (),
    tls: tuple[Path, Path] | None = None,
) -> ConsoleServer:
    """For ``anju hub`` / ``anju demo``: serve the console of a started hub in this loop.

    Returns the running server (``.url``, ``await .stop()``). Call after ``await hub.start()``.
    """
    from hub.console.passes import sync_passes
    from models.messages import utcnow

    configs = list(sites) if sites is not None else list(hub.sites.values())
    app = create_app(hub, configs, secure_cookies=secure_cookies)
    # Passes issued in the console before a restart go back into the synced vehicle lists.
    await app.state.console.ready()
    for config in configs:
        await sync_passes(hub, config.site.id, utcnow())
    server = ConsoleServer(app, host, port, trusted_proxies=trusted_proxies, tls=tls)
    await server.start()
    return server
