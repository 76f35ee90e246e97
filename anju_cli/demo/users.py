"""Demo accounts for ``anju demo``: one per role, with passwords printed at start.

Only for the demo: the passwords are fixed and public. ``ensure_demo_users`` (re)sets
them each time, so the printed credentials always work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.console.roles import ConsoleRole
from hub.console.users import UserStore
from hub.store import Store
from models.site import SiteConfig


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    password: str
    role: ConsoleRole
    scope: str | None

    def line(self) -> str:
        where = f" ({self.scope})" if self.scope else ""
        return f"{self.role.value:<9} {self.username} / {self.password}{where}"


def demo_accounts(sites: Sequence[SiteConfig]) -> list[DemoAccount]:
    first = sites[0].site
    return [
        DemoAccount("guard", "guard-demo-2026", ConsoleRole.GUARD, first.id),
        DemoAccount("manager", "manager-demo-2026", ConsoleRole.MANAGER, first.company.id),
        DemoAccount("regulator", "regulator-demo-2026", ConsoleRole.REGULATOR, None),
        DemoAccount("admin", "admin-demo-2026", ConsoleRole.ADMIN, None),
    ]


async def ensure_demo_users(store: Store, sites: Sequence[SiteConfig]) -> list[DemoAccount]:
    """Create (or reset) the demo accounts in the hub's database; return them to print."""
    companies = {c.site.id: c.site.company.id for c in sites}
    users = await UserStore.open(store, companies)
    accounts = demo_accounts(sites)
    for account in accounts:
        await users.set_user(
            account.username, account.password, account.role, account.scope, actor="anju demo"
        )
    return accounts
