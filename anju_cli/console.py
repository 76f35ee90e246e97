"""``anju console ...``: manage console accounts in the hub's database from a shell.

anju console add-user guard1 --role guard --scope lakeside     # asks for the password
anju console list-users
anju console disable-user guard1
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

from anju_cli.options import db_option
from hub.console.roles import ConsoleRole, ScopeError
from hub.console.users import UserStore
from hub.store import Store
from models.site import EXAMPLE_SITE, ConfigError, load_site_config

console_app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Console accounts (guards, managers, ...)."
)

DataOption = typer.Option(Path("data/hub"), "--data", help="the hub's data directory")
SiteOption = typer.Option([EXAMPLE_SITE], "--site", help="site config (repeatable)")
DbOption = db_option()


async def _users(data: Path, sites: list[Path], db: str | None) -> tuple[Store, UserStore]:
    configs = [load_site_config(p) for p in sites]
    store = await Store.open(data, db)
    users = await UserStore.open(store, {c.site.id: c.site.company.id for c in configs})
    return store, users


@console_app.command("add-user")
def add_user(
    username: str = typer.Argument(..., help="login name"),
    role: ConsoleRole = typer.Option(..., "--role"),
    scope: str | None = typer.Option(
        None, "--scope", help="guard: community id; manager: company id; others: none"
    ),
    password_env: str | None = typer.Option(
        None, "--password-env", help="read the password from this environment variable"
    ),
    data: Path = DataOption,
    db: str | None = DbOption,
    site: list[Path] = SiteOption,
) -> None:
    """Create an account, or reset its password and role (its sessions end)."""
    if password_env:
        password = os.environ.get(password_env, "")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)

    async def run() -> None:
        store, users = await _users(data, site, db)
        try:
            await users.set_user(username, password, role, scope, actor="anju console")
        finally:
            await store.close()

    try:
        asyncio.run(run())
    except (ScopeError, ValueError, ConfigError) as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    typer.echo(f"{username}: {role.value}" + (f" ({scope})" if scope else ""))


@console_app.command("list-users")
def list_users(
    data: Path = DataOption, site: list[Path] = SiteOption, db: str | None = DbOption
) -> None:
    async def run() -> list[dict]:
        store, users = await _users(data, site, db)
        try:
            return await users.users()
        finally:
            await store.close()

    for row in asyncio.run(run()):
        state = "disabled" if row["disabled"] else "active"
        typer.echo(f"{row['username']:<16} {row['role']:<10} {row['scope'] or '-':<16} {state}")


@console_app.command("disable-user")
def disable_user(
    username: str, data: Path = DataOption, site: list[Path] = SiteOption, db: str | None = DbOption
) -> None:
    async def run() -> bool:
        store, users = await _users(data, site, db)
        try:
            return await users.disable(username, actor="anju console")
        finally:
            await store.close()

    if not asyncio.run(run()):
        typer.secho(f"no active account {username!r}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    typer.echo(f"{username}: disabled")
