"""Commands for supervision records and the credit report.

The integrator registers ``report_main`` as ``anju report`` and may add ``app`` as
``anju supervision`` (rating, tick, seed-demo, complaint, order).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import typer

from models.site import EXAMPLE_SITE, ConfigError

T = TypeVar("T")
app = typer.Typer(
    name="supervision",
    help="Supervision records and the half-year credit rating (监管记录与信用评价).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PeriodOpt = typer.Option(..., "--period", help="half year, e.g. 2026H2, or 'current'")
DbOpt = typer.Option(
    "data/hub.db",
    "--db",
    help="the hub's database: its hub.db file (in the hub's --data directory),"
    " sqlite:///FILE or postgresql://[user@]host[:port]/name",
)
SiteOpt = typer.Option([EXAMPLE_SITE], "--site", help="site config YAML (repeatable)")
StandardOpt = typer.Option(None, "--standard", help="scoring standard YAML (default: v1)")
AsOfOpt = typer.Option(None, "--as-of", help="ISO time the data is taken as of (default: now)")


def _fail(message: str) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(2)


def _period(text: str):
    from hub.supervision.periods import Period, PeriodError
    from models.messages import utcnow

    try:
        return Period.of(utcnow()) if text.lower() == "current" else Period.parse(text)
    except PeriodError as exc:
        raise _fail(str(exc)) from None


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    from hub.supervision.periods import TZ

    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=TZ)


@asynccontextmanager
async def open_repo(db: str, sites: list[Path]) -> AsyncIterator:
    from hub.store import DB_NAME, Store
    from hub.supervision.repo import SupervisionRepo
    from models.site import load_site_config

    if "://" in db:
        data_dir, url = Path("data"), db  # a database server: no file in a data directory
    else:
        if Path(db).name != DB_NAME:
            raise _fail(f"--db must name the hub's {DB_NAME} (got {db})")
        data_dir, url = Path(db).parent, None
    configs = [load_site_config(p) for p in sites]
    store = await Store.open(data_dir, url)
    try:
        repo = await SupervisionRepo.open(store)
        await repo.sync_sites(configs)
        repo.site_configs = configs  # type: ignore[attr-defined]
        yield repo
    finally:
        await store.close()


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(factory())
    except ConfigError as exc:
        raise _fail(str(exc)) from None


@app.command("report")
def report_main(
    period: str = PeriodOpt,
    out: Path = typer.Option(..., "--out", help="directory to write the report into"),
    db: str = DbOpt,
    site: list[Path] = SiteOpt,
    standard: Path | None = StandardOpt,
    as_of: str | None = AsOfOpt,
    demo: bool = typer.Option(False, "--demo", help="first add demo records to each site"),
    publish: bool = typer.Option(False, "--publish", help="also store the rating as published"),
) -> None:
    """Write the publishable credit disclosure (HTML, PDF, CSV) for one half year."""
    from hub.supervision.standard import DEFAULT_STANDARD, load_standard

    p = _period(period)
    std = load_standard(standard or DEFAULT_STANDARD)

    async def main() -> dict[str, Path]:
        from hub.supervision.report import build_report, write_report

        async with open_repo(db, site) as repo:
            if demo:
                await _seed(repo, p)
            data = await build_report(repo, p, std, _as_of(as_of))
            files = write_report(data, out, std)
            if publish:
                await _publish(repo, p, std, _as_of(as_of))
        for c in data.companies:
            typer.echo(f"{c.rank:>3}. {c.name} ({c.id}): {c.score} {c.level_label} ({c.change})")
        return files

    for kind, path in _run(main).items():
        typer.echo(f"{kind}: {path}")


async def _seed(repo, period) -> None:
    from anju_cli.demo.supervision import seed_demo_records, simulate_device_faults

    for config in repo.site_configs:
        # device history for the previous half year too, so the report has a comparison;
        # the simulated events have fixed ids, so a second run adds nothing
        await simulate_device_faults(repo, config, period.previous())
        await simulate_device_faults(repo, config, period)
        counts = await seed_demo_records(repo, config, period)
        typer.echo(f"demo records for {config.site.id}: {counts or 'already there'}")


async def _publish(repo, period, standard, as_of) -> None:
    import json

    from hub.supervision.domain import Principal
    from hub.supervision.rating import compute_rating
    from hub.supervision.workflow import Role
    from models.messages import utcnow

    rating = await compute_rating(repo, period, standard, as_of)
    rows = [
        {
            "period": str(period),
            "company": r.company,
            "standard_version": standard.version,
            "score": str(r.score),
            "level": r.level.value,
            "rank": r.rank,
            "items": json.dumps(
                [i.model_dump(mode="json") for i in rating.scores[r.company].items],
                ensure_ascii=False,
            ),
        }
        for r in rating.ranking
    ]
    await repo.save_rating(rows, Principal("cli", Role.REGULATOR), utcnow())


@app.command("seed-demo")
def seed_demo(period: str = PeriodOpt, db: str = DbOpt, site: list[Path] = SiteOpt) -> None:
    """Simulated device faults and a half year of supervision records for each site."""

    async def main() -> None:
        async with open_repo(db, site) as repo:
            await _seed(repo, _period(period))

    _run(main)


@app.command("rating")
def rating_cmd(
    period: str = PeriodOpt,
    db: str = DbOpt,
    site: list[Path] = SiteOpt,
    standard: Path | None = StandardOpt,
    as_of: str | None = AsOfOpt,
    items: bool = typer.Option(False, "--items", help="list every deduction and bonus"),
) -> None:
    """Print the ranking, levels and (with --items) every point with its records."""
    from hub.supervision.labels import LEVELS, rule_label
    from hub.supervision.rating import compute_rating
    from hub.supervision.standard import DEFAULT_STANDARD, load_standard

    std = load_standard(standard or DEFAULT_STANDARD)

    async def main():
        async with open_repo(db, site) as repo:
            return await compute_rating(repo, _period(period), std, _as_of(as_of))

    rating = _run(main)
    for r in rating.ranking:
        change = "new" if r.change is None else f"{r.change:+.2f}"
        typer.echo(f"{r.rank:>3}. {r.company}: {r.score} {LEVELS[r.level][0]} ({change})")
        score = rating.scores[r.company]
        if score.provisional_records:
            typer.echo(
                f"      待核实 / provisional, not counted: {len(score.provisional_records)}"
                f" record(s), {score.provisional_points:+.2f} if verified"
            )
        if items:
            for i in score.items:
                typer.echo(_item_text(i, rule_label))
            for i in score.provisional:
                typer.echo("      [provisional]" + _item_text(i, rule_label)[5:])


def _item_text(i, rule_label) -> str:
    return (
        f"      {i.signed:+7.2f}  {i.rule}  {rule_label(i.rule)}\n"
        f"               records: {' '.join(i.record_ids)}"
        + (f"\n               evidence: {' '.join(i.evidence)}" if i.evidence else "")
        + (f"\n               {i.note}" if i.note else "")
    )


@app.command("tick")
def tick_cmd(db: str = DbOpt, site: list[Path] = SiteOpt) -> None:
    """Run the deadline watchdog once: mark overdue cases, escalate long-overdue ones."""

    async def main() -> int:
        async with open_repo(db, site) as repo:
            return await repo.tick()

    typer.echo(f"{_run(main)} case(s) moved")


@app.command("order")
def order_cmd(
    site_id: str = typer.Option(..., "--community", help="community (site) id"),
    what: str = typer.Option(..., "--what"),
    deadline: str = typer.Option(..., "--deadline", help="ISO date/time, Asia/Shanghai"),
    user: str = typer.Option(..., "--user", help="the regulator issuing it"),
    db: str = DbOpt,
    site: list[Path] = SiteOpt,
) -> None:
    """Issue a rectification order (责令整改) to the community's company."""
    from hub.supervision.domain import OrderIn, Principal
    from hub.supervision.workflow import Role

    async def main() -> dict:
        async with open_repo(db, site) as repo:
            data = OrderIn(site=site_id, what=what, deadline=_as_of(deadline))
            return await repo.issue_order(Principal(user, Role.REGULATOR), data)

    order = _run(main)
    typer.echo(f"order {order['id']} to {order['company']}, deadline {order['deadline']}")


@app.command("complaint")
def complaint_cmd(
    site_id: str = typer.Option(..., "--community", help="community (site) id"),
    category: str = typer.Option(..., "--category", help="security|parking|cleaning|repair|..."),
    what: str = typer.Option(..., "--what"),
    reporter: str = typer.Option("anonymous", "--reporter"),
    location: str = typer.Option("", "--where"),
    when: str = typer.Option(..., "--when", help="ISO date/time it happened, Asia/Shanghai"),
    severity: str = typer.Option("warning", "--severity"),
    user: str = typer.Option(..., "--user", help="the regulator receiving it"),
    db: str = DbOpt,
    site: list[Path] = SiteOpt,
) -> None:
    """Record a public report (受理举报)."""
    from hub.supervision.domain import ComplaintIn, Principal
    from hub.supervision.workflow import Role

    async def main() -> dict:
        async with open_repo(db, site) as repo:
            data = ComplaintIn(
                site=site_id,
                category=category,
                what=what,
                reporter=reporter,
                location=location,
                occurred_at=_as_of(when),
                severity=severity,
            )
            return await repo.add_complaint(Principal(user, Role.REGULATOR), data)

    complaint = _run(main)
    typer.echo(f"complaint {complaint['id']} recorded for {complaint['company']}")
