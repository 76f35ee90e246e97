"""Run the supervision deadline watchdog inside a running hub.

``SupervisionRepo.tick`` marks rectifications and cases overdue and escalates what is
due; a running hub calls it on a timer so deadlines pass without anyone asking.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from hub.store import Store
from hub.supervision.repo import SupervisionRepo
from models.site import SiteConfig

log = logging.getLogger(__name__)


async def run_deadline_watchdog(
    store: Store, sites: Sequence[SiteConfig], *, every_s: float = 60.0
) -> None:
    repo = await SupervisionRepo.open(store)
    await repo.sync_sites(sites)
    while True:
        try:
            changed = await repo.tick()
            if changed:
                log.warning("supervision: %d case(s) marked overdue or escalated", changed)
        except Exception:  # a busy database: try again at the next tick
            log.exception("supervision: deadline tick failed")
        await asyncio.sleep(every_s)


def start_deadline_watchdog(
    store: Store, sites: Sequence[SiteConfig], *, every_s: float = 60.0
) -> asyncio.Task[None]:
    return asyncio.create_task(
        run_deadline_watchdog(store, sites, every_s=every_s), name="supervision-deadlines"
    )


async def stop_deadline_watchdog(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
