"""`anju hub`: the hub service and its web console in one event loop, until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from pathlib import Path

from models.site import load_site_config

log = logging.getLogger(__name__)


async def run_hub_with_console(
    site_paths: Sequence[Path],
    broker_url: str,
    data_dir: Path,
    console: tuple[str, int] | None,
) -> None:
    from hub.service import Hub

    sites = [load_site_config(path) for path in site_paths]
    hub = Hub(sites, broker_url=broker_url, data_dir=data_dir)
    await hub.start()
    from hub.retention.job import start_retention, stop_retention
    from hub.supervision.watchdog import start_deadline_watchdog, stop_deadline_watchdog

    assert hub.store is not None
    deadlines = start_deadline_watchdog(hub.store, sites)
    retention = start_retention(hub.store, sites, hub=hub)  # hourly, first a minute after start
    server = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        if console is not None:
            from hub.console.app import start_console

            host, port = console
            # Cookies are marked Secure unless the console is only on loopback (plain http).
            secure = host not in ("127.0.0.1", "localhost", "::1")
            server = await start_console(hub, sites, host=host, port=port, secure_cookies=secure)
            log.info("console on %s (create accounts with `anju console add-user`)", server.url)
        await stop.wait()
    finally:
        await stop_deadline_watchdog(deadlines)
        await stop_retention(retention)
        if server is not None:
            await server.stop()
        await hub.stop()
