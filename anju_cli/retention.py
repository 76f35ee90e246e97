"""``anju retention run [--dry-run] --data-dir DIR SITE_YAML...``: one purge, report as JSON."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from anju_cli.options import DB_HELP
from models.site import ConfigError, SiteConfig, load_site_config


def _fail(message: str) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(2)


async def _run(
    data_dir: Path, db: str | None, sites: list[SiteConfig], dry_run: bool
) -> dict[str, Any]:
    from hub.retention.job import run_retention
    from hub.store import Store

    store = await Store.open(data_dir, db)
    try:
        return await run_retention(store, sites, dry_run=dry_run)
    finally:
        await store.close()


def run_main(
    site_files: Annotated[list[Path], typer.Argument(help="site config YAML (one per site)")],
    data_dir: Annotated[
        Path, typer.Option("--data", "--data-dir", help="the hub's data directory (evidence)")
    ],
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would be purged; change nothing")
    ] = False,
) -> None:
    """Purge evidence snapshots, old events and rejects, and lapsed face data, once."""
    from hub.store import DB_NAME

    try:
        sites = [load_site_config(path) for path in site_files]
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if db is None and not (data_dir / DB_NAME).is_file():
        raise _fail(f"{data_dir}: no hub database ({DB_NAME}) here")
    report = asyncio.run(_run(data_dir, db, sites, dry_run))
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2))


retention_app = typer.Typer(
    add_completion=False, help="Bounded retention of evidence, events and face data."
)
retention_app.command("run")(run_main)
