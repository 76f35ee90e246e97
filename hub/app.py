"""The hub process, assembled in one place: the hub core and the services around it.

``anju hub`` and ``anju demo`` both run a ``HubApp``. It starts the core (store, ingestion,
rules, gate commands, vehicle lists), then each service in order, and stops them in reverse:

    face-sync      the sites' sealed face bundles to the edges (when a face key is set)
    deadlines      supervision deadlines pass on their own (overdue, escalation)
    retention      old evidence, events, rejects and lapsed face consents purged hourly
    console        the web console (when asked for)
    ops            /metrics, /healthz, /readyz on a listener of their own (when asked for)

    app = HubApp(sites, broker_url=..., data_dir=..., console=ConsoleOptions(port=8080))
    await app.start(); ...; await app.stop()      # or: await app.run_forever()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hub.db.engine import database_url
from hub.service import Hub
from models.site import ConfigError, SiteConfig
from transport import Credentials, TlsSettings

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Service(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class BackgroundTask:
    """A service that is one asyncio task: ``begin()`` returns it (or None: nothing to run)."""

    def __init__(self, name: str, begin: Callable[[], Awaitable[asyncio.Task[Any] | None]]) -> None:
        self.name = name
        self._begin = begin
        self.task: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        self.task = await self._begin()

    async def stop(self) -> None:
        if self.task is None:
            return
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.task = None


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    host: str = "127.0.0.1"
    port: int = 8080  # 0: any free port
    # Secure cookies unless the console is only on loopback (plain http there)
    secure_cookies: bool | None = None
    trusted_proxies: tuple[str, ...] = ()  # reverse proxies whose X-Forwarded-For is believed
    tls: tuple[Path, Path] | None = None  # certificate and key: serve https directly


@dataclass(frozen=True, slots=True)
class OpsOptions:
    host: str = "127.0.0.1"
    port: int = 9108  # 0: any free port


class OpsService:
    name = "ops"

    def __init__(self, hub: Hub, options: OpsOptions) -> None:
        self.hub = hub
        self.options = options
        self.server: Any = None

    async def start(self) -> None:
        from hub.ops import OpsServer  # uvicorn, prometheus-client: only when served

        self.server = OpsServer(self.hub, self.options.host, self.options.port)
        await self.server.start()

    @property
    def url(self) -> str:
        return str(self.server.url) if self.server is not None else ""

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None


class ConsoleService:
    name = "console"

    def __init__(self, hub: Hub, sites: Sequence[SiteConfig], options: ConsoleOptions) -> None:
        self.hub = hub
        self.sites = list(sites)
        self.options = options
        self.server: Any = None

    async def start(self) -> None:
        from hub.console.app import start_console  # FastAPI, Jinja: only when served

        secure = self.options.secure_cookies
        if secure is None:
            secure = self.options.tls is not None or self.options.host not in LOOPBACK
        self.server = await start_console(
            self.hub,
            self.sites,
            host=self.options.host,
            port=self.options.port,
            secure_cookies=secure,
            trusted_proxies=self.options.trusted_proxies,
            tls=self.options.tls,
        )
        log.info("console on %s", self.server.url)

    @property
    def url(self) -> str:
        return str(self.server.url) if self.server is not None else ""

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None


class HubApp:
    def __init__(
        self,
        sites: Sequence[SiteConfig],
        *,
        broker_url: str,
        data_dir: Path | str,
        credentials: Credentials | None = None,
        tls: TlsSettings | None = None,
        client_id: str | None = None,  # default: the broker username, else anju-hub
        console: ConsoleOptions | None = None,
        ops: OpsOptions | None = None,
        face_sync: bool = True,
        deadlines: bool = True,
        retention: bool = True,
        **hub_options: Any,
    ) -> None:
        self.sites = list(sites)
        self.hub = Hub(
            self.sites,
            broker_url=broker_url,
            data_dir=data_dir,
            credentials=credentials,
            tls=tls,
            client_id=client_id,
            **hub_options,
        )
        if (
            hub_options.get("db")
            and database_url(data_dir, hub_options["db"]).get_backend_name() != "sqlite"
        ):
            # the console, supervision deadlines, face sync and retention still store to
            # SQLite only (hub/store.py): on PostgreSQL the hub ingests, rules and commands
            if console is not None:
                raise ConfigError(
                    "--db: the web console stores to SQLite only so far; run a PostgreSQL hub"
                    " with --no-console"
                )
            face_sync = deadlines = retention = False
            log.warning("PostgreSQL: face sync, supervision deadlines and retention are off")
        self.console = ConsoleService(self.hub, self.sites, console) if console else None
        self.ops = OpsService(self.hub, ops) if ops else None
        self.services: list[Service] = []
        if self.ops is not None:
            self.services.append(self.ops)
        if face_sync:
            self.services.append(BackgroundTask("face-sync", self._face_sync))
        if deadlines:
            self.services.append(BackgroundTask("deadlines", self._deadlines))
        if retention:
            self.services.append(BackgroundTask("retention", self._retention))
        if self.console is not None:
            self.services.append(self.console)
        self._started: list[Service] = []
        self._stop = asyncio.Event()

    # ------------------------------------------------------------------ the services

    async def _face_sync(self) -> asyncio.Task[None] | None:
        from hub.pedestrian_gate.sync import start_face_sync

        return await start_face_sync(self.hub)

    async def _deadlines(self) -> asyncio.Task[None]:
        from hub.supervision.watchdog import start_deadline_watchdog

        assert self.hub.store is not None
        return start_deadline_watchdog(self.hub.store, self.sites)

    async def _retention(self) -> asyncio.Task[None]:
        from hub.retention.job import start_retention

        assert self.hub.store is not None
        return start_retention(self.hub.store, self.sites, hub=self.hub)  # first a minute in

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, connect_timeout_s: float = 10.0) -> None:
        await self.hub.start(connect_timeout_s=connect_timeout_s)
        try:
            for service in self.services:
                await service.start()
                self._started.append(service)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        while self._started:
            service = self._started.pop()
            try:
                await service.stop()
            except Exception:
                log.exception("stopping %s failed; going on", service.name)
        await self.hub.stop()

    def request_stop(self) -> None:
        """Make ``run_forever`` return (after a clean stop); safe from a signal handler."""
        self._stop.set()

    async def run_forever(self) -> None:
        """Start, run until SIGINT/SIGTERM (or ``request_stop``), stop cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        await self.start()
        try:
            await self._stop.wait()
        finally:
            await self.stop()
