"""The publishable credit disclosure for one half year: HTML (prints well), PDF and CSV.

``build_report`` gathers a plain view model from the repo and the rating; ``write_report``
renders it. Per company: score, level, rank, change, and the good and bad credit items,
each linked to its records and their device evidence. Per community: violations by type
and month (a chart), and the rectifications still open. Labels are Chinese and English.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hub.export import SafeWriter
from hub.store import from_iso
from hub.supervision import labels
from hub.supervision.periods import TZ, Period, month_of
from hub.supervision.rating import Rating, compute_rating
from hub.supervision.repo import SupervisionRepo
from hub.supervision.report_model import (
    CJK_FONT,
    TITLE_EN,
    TITLE_ZH,
    CommunityRow,
    CompanyRow,
    ItemRow,
    ReportData,
)
from hub.supervision.scoring import ItemKind, ScoreItem
from hub.supervision.standard import ScoringStandard
from hub.supervision.workflow import OPEN_STATES, Status
from models.messages import utcnow

TEMPLATE_DIR = Path(__file__).parent  # report.html sits beside this module (package data)


# ---------------------------------------------------------------------------- view model


async def build_report(
    repo: SupervisionRepo,
    period: Period,
    standard: ScoringStandard,
    as_of: datetime | None = None,
) -> ReportData:
    rating = await compute_rating(repo, period, standard, as_of)
    sites = await repo.sites()
    violations = await repo.violations(period=period)
    complaints = await repo.complaints(period=period)
    inspections = await repo.inspections(period=period)
    orders = await repo.orders()
    commendations = await repo.commendations(period=period)
    devices = await repo.devices(None, period, rating.as_of)
    return ReportData(
        period=str(period),
        as_of=_local(rating.as_of),
        generated_at=_local(utcnow()),
        standard=f"{standard.name} / {standard.name_en}",
        standard_version=standard.version,
        thresholds=[
            (labels.zh_en(labels.LEVELS, t.level), f"≥ {t.min:g}") for t in standard.levels
        ],
        level_minimums=[(labels.LEVELS[t.level][0], t.min) for t in standard.levels],
        companies=_companies(rating, commendations),
        communities=[
            _community(s, period, rating, violations, complaints, inspections, orders, devices)
            for s in sites
        ],
    )


def _local(when: datetime) -> str:
    return when.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def _num(value: Decimal | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    text = f"{value:+.2f}" if signed else f"{value:.2f}"
    return text.replace("-", "−")


def _item_row(item: ScoreItem, rating: Rating) -> ItemRow:
    records = []
    for rid in item.record_ids:
        rec = rating.records.get(rid)
        records.append(
            {
                "id": rid,
                "what": rec.detail if rec else "",
                "site": rec.site if rec else "",
                "at": _local(rec.at) if rec else "",
            }
        )
    return ItemRow(
        kind=item.kind.value,
        rule=item.rule,
        label=labels.rule_label(item.rule),
        points=_num(item.signed, signed=True),
        records=records,
        evidence=list(item.evidence),
        note=item.note,
    )


def _companies(rating: Rating, commendations: list[dict[str, Any]]) -> list[CompanyRow]:
    rows = []
    for r in rating.ranking:
        score = rating.scores[r.company]
        info = rating.companies.get(r.company, {})
        items = [_item_row(i, rating) for i in score.items if i.points > 0]
        rows.append(
            CompanyRow(
                rank=r.rank,
                id=r.company,
                name=info.get("name", r.company),
                sites=(info.get("sites") or "").split(",") if info.get("sites") else [],
                score=_num(r.score),
                level=r.level.value,
                level_label=labels.zh_en(labels.LEVELS, r.level.value),
                previous_score=_num(r.previous_score),
                previous_level_label=(
                    labels.zh_en(labels.LEVELS, r.previous_level.value) if r.previous_level else "—"
                ),
                change=_num(r.change, signed=True) if r.change is not None else "新 / new",
                deductions=_num(-score.deductions, signed=True),
                bonuses=_num(score.bonuses, signed=True),
                bad=[i for i in items if i.kind == ItemKind.DEDUCTION],
                good=[i for i in items if i.kind == ItemKind.BONUS],
                commendations=[
                    {"at": _local(from_iso(k["at"])), "what": k["what"], "site": k["site"]}
                    for k in commendations
                    if k["company"] == r.company
                ],
                provisional=[_item_row(i, rating) for i in score.provisional if i.points > 0],
                provisional_records=len(score.provisional_records),
                provisional_points=_num(score.provisional_points, signed=True),
            )
        )
    return rows


def _community(
    site: dict[str, Any],
    period: Period,
    rating: Rating,
    violations: list[dict[str, Any]],
    complaints: list[dict[str, Any]],
    inspections: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    devices: list[dict[str, Any]],
) -> CommunityRow:
    months = period.months()
    counts: Counter[tuple[str, str]] = Counter(
        (v["type"], month_of(from_iso(v["opened_at"])))
        for v in violations
        if v["site"] == site["id"]
    )
    types = sorted({t for t, _ in counts})
    by_type = {
        labels.zh_en(labels.VIOLATION_TYPES, t): [counts[(t, m)] for m in months] for t in types
    }
    return CommunityRow(
        id=site["id"],
        name=site["name"],
        name_en=site["name_en"],
        company=site["company"],
        company_name=site["company_name"],
        months=months,
        by_type=by_type,
        total_violations=sum(counts.values()),
        complaints=sum(1 for c in complaints if c["site"] == site["id"]),
        inspections=sum(1 for i in inspections if i["site"] == site["id"]),
        open_items=_open_items(site["id"], rating.as_of, violations, complaints, orders),
        devices=[
            {
                "device": d["device"],
                "online": {True: "在线 / online", False: "离线 / offline"}.get(
                    d["online"],
                    "往期不显示当前状态 / current state not shown for a past period"
                    if d["last_seen"]
                    else "未上线 / never seen",
                ),
                # last seen after the period is today's fact, not the period's
                "last_seen": _local(from_iso(d["last_seen"]))
                if d["last_seen"] and from_iso(d["last_seen"]) <= period.end
                else "—",
                "outages": d["outages"],
                "hours": f"{d['offline_hours']:.2f}",
            }
            for d in devices
            if d["site"] == site["id"]
        ],
    )


def _open_items(
    site: str,
    as_of: datetime,
    violations: list[dict[str, Any]],
    complaints: list[dict[str, Any]],
    orders: list[dict[str, Any]],
) -> list[dict[str, str]]:
    """Rectifications not yet verified: orders, and cases assigned without an order."""
    items = []

    def add(ref: str, what: str, row: dict[str, Any], since: str) -> None:
        status = row["status"]
        deadline = from_iso(row["deadline"])
        if status == Status.ASSIGNED and deadline and deadline < as_of:
            status = Status.OVERDUE.value  # the watchdog may not have run yet
        items.append(
            {
                "ref": ref,
                "what": what,
                "since": _local(from_iso(since)),
                "deadline": _local(deadline) if deadline else "—",
                "status": labels.zh_en(labels.STATUSES, status),
                "late": "yes" if status in (Status.OVERDUE, Status.ESCALATED) else "",
            }
        )

    open_states = {s.value for s in OPEN_STATES} | {Status.RECTIFIED.value}
    for o in orders:
        if o["site"] == site and o["status"] in open_states:
            add(f"order:{o['id']}", o["what"], o, o["issued_at"])
    for v in violations:
        if v["site"] == site and v["status"] in open_states - {"new"} and not v["order_id"]:
            add(f"violation:{v['id']}", v["detail"], v, v["opened_at"])
    for c in complaints:
        if c["site"] == site and c["status"] in open_states - {"new"} and not c["order_id"]:
            add(f"complaint:{c['id']}", c["what"], c, c["received_at"])
    return sorted(items, key=lambda i: (i["deadline"], i["ref"]))


# ---------------------------------------------------------------------------- charts


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    if CJK_FONT.exists() and "WenQuanYi Micro Hei" not in {
        f.name for f in font_manager.fontManager.ttflist
    }:
        font_manager.fontManager.addfont(str(CJK_FONT))
    plt.rcParams["font.family"] = ["WenQuanYi Micro Hei", "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    plt.rcParams["svg.fonttype"] = "none"  # text stays text in the HTML page
    return plt


def _render(fig) -> tuple[bytes, str]:
    png, svg = io.BytesIO(), io.StringIO()
    fig.savefig(png, format="png", dpi=150, bbox_inches="tight")
    fig.savefig(svg, format="svg", bbox_inches="tight")
    return png.getvalue(), svg.getvalue()[svg.getvalue().find("<svg") :]


def community_chart(row: CommunityRow) -> tuple[bytes, str]:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 2.8))
    bottom = [0] * len(row.months)
    colours = plt.get_cmap("tab10")
    for n, (label, values) in enumerate(row.by_type.items()):
        ax.bar(row.months, values, bottom=bottom, label=label, color=colours(n % 10))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title(f"{row.name} 违规记录（按月、按类型） / Violations by month and type", fontsize=10)
    ax.set_ylabel("条 / count")
    ax.yaxis.get_major_locator().set_params(integer=True)
    if row.by_type:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    else:
        ax.text(0.5, 0.5, "无 / none", ha="center", va="center", transform=ax.transAxes)
    ax.spines[["top", "right"]].set_visible(False)
    out = _render(fig)
    plt.close(fig)
    return out


def score_chart(data: ReportData, standard_levels: list[tuple[str, float]]) -> tuple[bytes, str]:
    plt = _pyplot()
    rows = data.companies
    fig, ax = plt.subplots(figsize=(7.2, 0.5 + 0.45 * max(len(rows), 1)))
    colour = {"excellent": "#2e7d32", "good": "#1565c0", "pass": "#f9a825", "fail": "#c62828"}
    names = [f"{r.rank}. {r.name}" for r in rows][::-1]
    scores = [float(r.score) for r in rows][::-1]
    ax.barh(names, scores, color=[colour[r.level] for r in rows][::-1])
    for y, s in enumerate(scores):
        ax.text(s + 0.5, y, f"{s:.2f}", va="center", fontsize=8)
    for name, minimum in standard_levels[:-1]:
        ax.axvline(minimum, color="#999", lw=0.8, ls="--")
        ax.text(minimum, len(rows) - 0.4, name, fontsize=7, color="#555", ha="right")
    ax.set_xlim(0, 110)
    ax.set_xlabel("得分 / score")
    ax.spines[["top", "right"]].set_visible(False)
    out = _render(fig)
    plt.close(fig)
    return out


# ---------------------------------------------------------------------------- writers


ALL_FORMATS = frozenset({"html", "pdf", "csv"})


def write_report(
    data: ReportData,
    out: Path,
    standard: ScoringStandard | None = None,  # accepted for older callers; data has it all
    formats: frozenset[str] = ALL_FORMATS,
) -> dict[str, Path]:
    """Write the HTML, PDF and CSV files (``formats``) into ``out``; return them by kind."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"credit-{data.period}"
    files = {
        "html": out / f"{stem}.html",
        "pdf": out / f"{stem}.pdf",
        "csv": out / f"{stem}.csv",
        "items_csv": out / f"{stem}-items.csv",
    }
    data.files = {k: p.name for k, p in files.items()}
    if "csv" in formats:
        write_csv(data, files["csv"], files["items_csv"])
    if "html" in formats:
        files["html"].write_text(render_html(data), encoding="utf-8")
    if "pdf" in formats:
        from hub.supervision.pdf import write_pdf  # reportlab loads only here

        ensure_charts(data)
        write_pdf(data, files["pdf"])
    return {k: p for k, p in files.items() if p.exists()}


def ensure_charts(data: ReportData) -> None:
    """Render the charts once (PNG for the PDF, SVG for the page)."""
    if not data.score_chart_png:
        data.score_chart_png, data.score_chart_svg = score_chart(data, data.level_minimums)
    for community in data.communities:
        if not community.chart_png:
            community.chart_png, community.chart_svg = community_chart(community)


def _ascii(number: str) -> str:
    """A number as spreadsheets read it: the report's typographic minus (U+2212) as ASCII."""
    return number.replace("\u2212", "-")


def write_csv(data: ReportData, companies_csv: Path, items_csv: Path) -> None:
    # utf-8-sig: spreadsheet programs then read the Chinese text correctly
    with companies_csv.open("w", newline="", encoding="utf-8-sig") as fh:
        w = SafeWriter(fh)
        w.writerow(
            [
                "期间 period",
                "排名 rank",
                "企业编号 company id",
                "企业名称 company",
                "小区 communities",
                "得分 score",
                "等级 level",
                "上期得分 previous score",
                "上期等级 previous level",
                "变化 change",
                "扣分 deductions",
                "加分 bonuses",
                "不良信用条数 bad items",
                "良好信用条数 good items",
                "评分标准版本 standard version",
            ]
        )
        for c in data.companies:
            w.writerow(
                [
                    data.period,
                    c.rank,
                    c.id,
                    c.name,
                    " ".join(c.sites),
                    _ascii(c.score),
                    c.level_label,
                    _ascii(c.previous_score),
                    c.previous_level_label,
                    _ascii(c.change),
                    _ascii(c.deductions),
                    _ascii(c.bonuses),
                    len(c.bad),
                    len(c.good),
                    data.standard_version,
                ]
            )
    with items_csv.open("w", newline="", encoding="utf-8-sig") as fh:
        w = SafeWriter(fh)
        w.writerow(
            [
                "期间 period",
                "企业编号 company id",
                "类别 kind",
                "规则 rule",
                "说明 label",
                "分值 points",
                "记录 records",
                "证据事件 evidence",
                "备注 note",
            ]
        )
        for c in data.companies:
            for item in c.bad + c.good:
                w.writerow(
                    [
                        data.period,
                        c.id,
                        item.kind,
                        item.rule,
                        item.label,
                        _ascii(item.points),
                        " ".join(r["id"] for r in item.records),
                        " ".join(item.evidence),
                        item.note,
                    ]
                )


def render_html(data: ReportData) -> str:
    """The disclosure page (charts inline as SVG); links to the files once they are written."""
    import jinja2

    ensure_charts(data)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_svg"] = lambda svg: jinja2.utils.markupsafe.Markup(svg)
    return env.get_template("report.html").render(d=data, title_zh=TITLE_ZH, title_en=TITLE_EN)


async def generate(
    repo: SupervisionRepo,
    period: Period,
    standard: ScoringStandard,
    out: Path,
    as_of: datetime | None = None,
) -> dict[str, Path]:
    data = await build_report(repo, period, standard, as_of)
    return write_report(data, out, standard)
