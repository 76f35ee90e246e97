"""The deadline watchdog a running hub starts: a missed rectification order becomes
overdue on its own, without anyone calling `anju supervision tick`."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from hub.store import Store
from hub.supervision.domain import OrderIn, Principal
from hub.supervision.repo import SupervisionRepo
from hub.supervision.watchdog import start_deadline_watchdog, stop_deadline_watchdog
from hub.supervision.workflow import Role
from models.messages import utcnow
from models.site import load_site_config

REGULATOR = Principal("li.jian", Role.REGULATOR)


async def test_watchdog_marks_a_missed_order_overdue(tmp_path: Path) -> None:
    site = load_site_config()
    store = await Store.open(tmp_path)
    try:
        repo = await SupervisionRepo.open(store)
        await repo.sync_sites([site])
        order = OrderIn(
            site="lakeside", what="修复南门道闸", deadline=utcnow() + timedelta(seconds=1)
        )
        issued = await repo.issue_order(REGULATOR, order)
        task = start_deadline_watchdog(store, [site], every_s=0.2)
        try:
            assert (await repo.order(issued["id"]))["status"] != "overdue"
            for _ in range(50):
                await asyncio.sleep(0.1)
                if (await repo.order(issued["id"]))["status"] == "overdue":
                    break
            assert (await repo.order(issued["id"]))["status"] == "overdue"
        finally:
            await stop_deadline_watchdog(task)
    finally:
        await store.close()
