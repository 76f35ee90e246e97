"""The disclosure as a PDF (reportlab), with the CJK font embedded and the charts as images."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    CondPageBreak,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from hub.supervision.report_model import CJK_FONT, TITLE_EN, TITLE_ZH, ItemRow, ReportData

FONT = "WQYMicroHei"
LEVEL_COLOURS = {"excellent": "#2e7d32", "good": "#1565c0", "pass": "#b7860b", "fail": "#c62828"}


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        if not CJK_FONT.exists():
            raise FileNotFoundError(
                f"the CJK font {CJK_FONT} is missing: apt-get install fonts-wqy-microhei"
            )
        # the .ttc holds several faces; 0 is WenQuanYi Micro Hei (subset-embedded on save)
        pdfmetrics.registerFont(TTFont(FONT, str(CJK_FONT), subfontIndex=0))
    return FONT


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    base = ParagraphStyle("base", fontName=font, fontSize=9, leading=12, wordWrap="CJK")
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5),
        "meta": ParagraphStyle(
            "meta", parent=base, fontSize=8.5, textColor=colors.HexColor("#555")
        ),
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=22, spaceAfter=2),
        "subtitle": ParagraphStyle(
            "subtitle",
            parent=base,
            fontSize=11,
            leading=14,
            textColor=colors.HexColor("#555"),
            spaceAfter=6,
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontSize=13,
            leading=17,
            spaceBefore=8,
            spaceAfter=4,
            textColor=colors.HexColor("#1f4e79"),
        ),
        "h3": ParagraphStyle(
            "h3", parent=base, fontSize=10.5, leading=14, spaceBefore=6, spaceAfter=3
        ),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _table(rows: list[list[Any]], widths: Sequence[float], header_rows: int = 1) -> Table:
    table = Table(rows, colWidths=[w * mm for w in widths], repeatRows=header_rows)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
                ("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.HexColor("#e8eef5")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _image(png: bytes, width_mm: float) -> Image:
    img = Image(io.BytesIO(png))
    scale = width_mm * mm / img.drawWidth
    img.drawWidth, img.drawHeight = img.drawWidth * scale, img.drawHeight * scale
    return img


def _level(label: str, level: str, st: ParagraphStyle) -> Paragraph:
    return Paragraph(f'<font color="{LEVEL_COLOURS[level]}"><b>{escape(label)}</b></font>', st)


def _items(items: list[ItemRow], st: dict[str, ParagraphStyle]) -> Table:
    rows: list[list[Any]] = [
        [
            _p(h, st["small"])
            for h in ("事项 Item", "分值 Points", "依据记录 Records", "设备证据 Evidence")
        ]
    ]
    for item in items:
        what = f"{item.label}\n{item.rule}" + (f"\n{item.note}" if item.note else "")
        records = "\n".join(f"{r['id']}  {r['at']}\n{r['what']}" for r in item.records)
        rows.append(
            [
                _p(what, st["small"]),
                _p(item.points, st["base"]),
                _p(records, st["small"]),
                _p("\n".join(item.evidence) or "—", st["small"]),
            ]
        )
    return _table(rows, [58, 16, 62, 46])


def _header_footer(canvas: Any, doc: Any) -> None:
    canvas.saveState()
    canvas.setFont(FONT, 7.5)
    canvas.setFillColor(colors.HexColor("#777777"))
    canvas.drawString(14 * mm, 9 * mm, f"{TITLE_ZH} / {TITLE_EN} · {doc.anju_period}")
    canvas.restoreState()


def _numbered_canvas() -> Any:
    """A canvas that writes "第 n 页 / 共 N 页" on every page once N is known (at save)."""
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab ships no types
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont(FONT, 7.5)
                self.setFillColor(colors.HexColor("#777777"))
                n = self._pageNumber
                self.drawRightString(
                    A4[0] - 14 * mm, 9 * mm, f"第 {n} 页 / 共 {total} 页 · page {n} of {total}"
                )
                super().showPage()
            super().save()

    return NumberedCanvas


def write_pdf(data: ReportData, path: Path) -> None:
    st = _styles()
    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=14 * mm,
        bottomMargin=16 * mm,
        title=f"{TITLE_ZH} {data.period}",
        author="Anju",
        subject=TITLE_EN,
    )
    doc.anju_period = data.period
    pub = data.publication
    story: list[Any] = [
        _p(TITLE_ZH, st["title"]),
        _p(TITLE_EN, st["subtitle"]),
        _p(
            f"评价期间 Period: {data.period} · 数据截至 Data as of: {data.as_of} (Asia/Shanghai) · "
            f"生成时间 Generated: {data.generated_at}\n"
            f"评分标准 Scoring standard: {data.standard}, version {data.standard_version} · "
            "等级 Levels: " + "; ".join(f"{n} {r}" for n, r in data.thresholds),
            st["meta"],
        ),
        _p(
            f"发布单位 Issued by: {escape(pub.get('issuing_authority', ''))} · "
            f"公示期 Publicity period: {escape(pub.get('publicity_days', ''))} 日 days\n"
            f"异议渠道 Objections: {escape(pub.get('objection_channel', ''))} · "
            f"联系方式 Contact: {escape(pub.get('objection_contact', ''))}",
            st["meta"],
        ),
        _p("一、信用等级排名 / Ranking", st["h2"]),
    ]
    rows: list[list[Any]] = [
        [
            _p(h, st["small"])
            for h in (
                "排名\nRank",
                "企业 Company",
                "小区\nCommunities",
                "得分\nScore",
                "等级\nLevel",
                "上期\nPrevious",
                "变化\nChange",
                "扣分\nDeducted",
                "加分\nBonus",
            )
        ]
    ]
    for c in data.companies:
        rows.append(
            [
                _p(str(c.rank), st["base"]),
                _p(f"{c.name}\n{c.id}", st["small"]),
                _p(", ".join(c.sites), st["small"]),
                _p(c.score, st["base"]),
                _level(c.level_label, c.level, st["small"]),
                _p(f"{c.previous_score}\n{c.previous_level_label}", st["small"]),
                _p(c.change, st["small"]),
                _p(c.deductions, st["small"]),
                _p(c.bonuses, st["small"]),
            ]
        )
    story += [_table(rows, [12, 44, 24, 16, 22, 20, 16, 14, 14]), Spacer(1, 4 * mm)]
    story.append(_image(data.score_chart_png, 170))

    # a new page only when little is left of this one: no two-thirds-blank first page
    story += [
        CondPageBreak(70 * mm),
        _p("二、企业信用信息 / Credit information by company", st["h2"]),
    ]
    for n, c in enumerate(data.companies):
        if n:
            story.append(Spacer(1, 6 * mm))
        story.append(
            KeepTogether(
                [
                    Paragraph(
                        f"{c.rank}. {escape(c.name)} ({escape(c.id)}) — {c.score} "
                        f'<font color="{LEVEL_COLOURS[c.level]}">{escape(c.level_label)}</font>',
                        st["h3"],
                    ),
                    _p(f"统一社会信用代码 Credit code: {escape(c.credit_code)}", st["meta"]),
                    _p(
                        f"管理小区 Communities: {', '.join(c.sites)} · 上期 Previous: "
                        f"{c.previous_score} ({c.previous_level_label}) · 变化 Change: {c.change}",
                        st["meta"],
                    ),
                ]
            )
        )
        story.append(_p(f"不良信用信息 / Bad credit items ({len(c.bad)})", st["h3"]))
        story.append(_items(c.bad, st) if c.bad else _p("无 / None.", st["base"]))
        story.append(_p(f"良好信用信息 / Good credit items ({len(c.good)})", st["h3"]))
        story.append(_items(c.good, st) if c.good else _p("无 / None.", st["base"]))
        if c.provisional_records:
            story.append(
                _p(
                    f"待核实、未计分 / Awaiting verification, not counted: "
                    f"{c.provisional_records} 条 records, "
                    f"若核实 if verified {c.provisional_points}",
                    st["meta"],
                )
            )
        if c.commendations:
            text = "; ".join(f"{k['at']} {k['what']}" for k in c.commendations)
            story.append(_p(f"表扬记录 Commendations: {text}", st["meta"]))

    story += [CondPageBreak(70 * mm), _p("三、小区监管情况 / Communities", st["h2"])]
    for s in data.communities:
        story.append(_p(f"{s.name} {s.name_en} ({s.id})", st["h3"]))
        story.append(
            _p(
                f"物业企业 Company: {s.company_name} · 违规记录 Violations: {s.total_violations} · "
                f"受理举报 Public reports: {s.complaints} · 检查 Inspections: {s.inspections}",
                st["meta"],
            )
        )
        story.append(_image(s.chart_png, 175))
        header = ["类型 Type", *[m[2:] for m in s.months], "合计"]
        rows = [[_p(h, st["small"]) for h in header]]
        for label, values in s.by_type.items():
            rows.append(
                [
                    _p(label, st["small"]),
                    *[_p(str(v), st["small"]) for v in values],
                    _p(str(sum(values)), st["small"]),
                ]
            )
        if not s.by_type:
            rows.append([_p("无 / None", st["small"])] + [""] * (len(header) - 1))
        story.append(_table(rows, [56] + [16] * len(s.months) + [18]))
        story.append(_p(f"设备在线情况 / Devices ({len(s.devices)})", st["h3"]))
        if s.devices:
            rows = [
                [
                    _p(h, st["small"])
                    for h in (
                        "设备 Device",
                        "当前 Now",
                        "最后上报 Last seen",
                        "离线次数 Outages",
                        "离线小时 Offline hours",
                    )
                ]
            ]
            for dv in s.devices:
                rows.append(
                    [
                        _p(str(dv[k]), st["small"])
                        for k in ("device", "online", "last_seen", "outages", "hours")
                    ]
                )
            story.append(_table(rows, [40, 34, 40, 32, 36]))
        story.append(_p(f"未办结整改 / Open rectifications ({len(s.open_items)})", st["h3"]))
        if s.open_items:
            rows = [
                [
                    _p(h, st["small"])
                    for h in ("编号 Ref", "事项 What", "下达 Since", "期限 Deadline", "状态 Status")
                ]
            ]
            for o in s.open_items:
                status = (
                    f'<font color="#c62828"><b>{escape(o["status"])}</b></font>'
                    if o["late"]
                    else escape(o["status"])
                )
                rows.append(
                    [
                        _p(o["ref"], st["small"]),
                        _p(o["what"], st["small"]),
                        _p(o["since"], st["small"]),
                        _p(o["deadline"], st["small"]),
                        Paragraph(status, st["small"]),
                    ]
                )
            story.append(_table(rows, [30, 70, 26, 26, 30]))
        else:
            story.append(_p("无 / None.", st["base"]))
    story += [
        Spacer(1, 4 * mm),
        _p(
            "每一扣分/加分项均列出其依据的监管记录与设备事件编号，可在安居平台中逐条核查。\n"
            "Every deduction and bonus lists the supervision records and device event ids "
            "behind it; each can be checked in Anju.",
            st["meta"],
        ),
        Spacer(1, 10 * mm),
        _p(escape(pub.get("issuing_authority", "")), st["base"]),
        _p(escape(pub.get("seal_text", "")), st["base"]),
        _p(escape(pub.get("issue_date_text", "")), st["base"]),
    ]
    doc.build(
        story,
        onFirstPage=_header_footer,
        onLaterPages=_header_footer,
        canvasmaker=_numbered_canvas(),
    )
