"""The disclosure's view model: what ``report.build_report`` gathers and the HTML, PDF and CSV
writers render (plain data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
TITLE_ZH = "物业服务企业信用等级评价结果公示"
TITLE_EN = "Credit rating of property-management companies: public disclosure"


@dataclass
class ItemRow:
    kind: str
    rule: str
    label: str
    points: str  # signed, e.g. "-6.50"
    records: list[dict[str, str]]  # id, what, site, at
    evidence: list[str]
    note: str


@dataclass
class CompanyRow:
    rank: int
    id: str
    name: str
    sites: list[str]
    score: str
    level: str
    level_label: str
    previous_score: str
    previous_level_label: str
    change: str
    deductions: str
    bonuses: str
    credit_code: str
    bad: list[ItemRow]
    good: list[ItemRow]
    commendations: list[dict[str, str]]
    # unverified records: not in the score; what they would cost once verified
    provisional: list[ItemRow] = field(default_factory=list)
    provisional_records: int = 0
    provisional_points: str = ""


@dataclass
class CommunityRow:
    id: str
    name: str
    name_en: str
    company: str
    company_name: str
    months: list[str]
    by_type: dict[str, list[int]]  # type label -> count per month
    total_violations: int
    complaints: int
    inspections: int
    open_items: list[dict[str, str]]
    devices: list[dict[str, Any]] = field(default_factory=list)  # outages this half year
    chart_png: bytes = b""
    chart_svg: str = ""


@dataclass
class ReportData:
    period: str
    as_of: str
    generated_at: str
    standard: str
    standard_version: int
    thresholds: list[tuple[str, str]]
    companies: list[CompanyRow]
    communities: list[CommunityRow]
    level_minimums: list[tuple[str, float]] = field(default_factory=list)  # chart guides
    score_chart_png: bytes = b""
    score_chart_svg: str = ""
    files: dict[str, str] = field(default_factory=dict)
    # the publication's own facts (config/disclosure.yaml): authority, 公示期, 异议, seal
    publication: dict[str, str] = field(default_factory=dict)
