"""Pure scoring: supervision records in, score and credit level out. No I/O.

Every point is a ``ScoreItem`` naming the rule of the standard, the record(s) and the
device evidence (event ids) behind it. Points are exact decimals summed in a fixed order
(records sorted by time and id), so the order records arrive in never changes a result.
Caps are applied to totals: a record added under a full cap gets a zero item saying so,
which keeps "a deduction never raises a score" true.

Only verified records count by default: an alarm the regulator has not triaged yet (a
violation still "new", a complaint not yet confirmed) is provisional. Its would-be points
are computed apart (``provisional``) and shown apart, never in the published score - a
company could win any objection against a score moved by unchecked alarms.

Which half year a record belongs to: the one its ``at`` (opened, received, issued,
inspected) falls in. Downtime is counted inside the period and up to ``as_of`` only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub.supervision.periods import TZ, Period
from hub.supervision.standard import Level, ScoringStandard, dec

CENT = Decimal("0.01")
ZERO = Decimal(0)


class RecordKind(StrEnum):
    VIOLATION = "violation"  # opened by the hub's rules from device events
    COMPLAINT = "complaint"  # a public report (受理举报)
    INSPECTION = "inspection"  # open inspection, unannounced visit or spot check
    ORDER = "order"  # a rectification order (责令整改)
    COMMENDATION = "commendation"  # good credit information (表扬)


class CheckItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    label: str = ""
    severity: str = "warning"
    passed: bool
    note: str = ""


class Record(BaseModel):
    """One supervision record as the scoring function sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)  # "violation:<id>", "complaint:12", "order:3", ...
    kind: RecordKind
    company: str
    site: str
    type: str = ""  # violation type, complaint category, inspection kind, order topic
    severity: str = Field(default="warning", pattern="^(info|warning|critical)$")
    at: AwareDatetime
    counts: bool = True  # not dismissed; a record that does not count scores nothing
    verified: bool = True  # confirmed by the regulator (triaged); else provisional
    deadline: AwareDatetime | None = None  # for rectification (orders, assigned cases)
    rectified_at: AwareDatetime | None = None  # rectified, repaired, or device back online
    checklist: tuple[CheckItem, ...] = ()
    evidence: tuple[str, ...] = ()  # device event ids, photo references
    detail: str = ""


class ItemKind(StrEnum):
    DEDUCTION = "deduction"
    BONUS = "bonus"


class ScoreItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ItemKind
    rule: str  # key path in the standard, e.g. "complaints.parking.warning"
    points: Decimal  # >= 0; the kind says which way it counts
    record_ids: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    site: str = ""
    at: datetime | None = None
    note: str = ""

    @property
    def signed(self) -> Decimal:
        return -self.points if self.kind is ItemKind.DEDUCTION else self.points


class CompanyScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    company: str
    period: str
    standard_version: int
    as_of: datetime
    base: Decimal
    deductions: Decimal
    bonuses: Decimal
    score: Decimal
    level: Level
    items: tuple[ScoreItem, ...]
    record_count: int
    unscored: tuple[str, ...] = ()  # record ids whose type the standard does not list
    # what the unverified records would cost once verified: shown apart, not in ``score``
    provisional: tuple[ScoreItem, ...] = ()
    provisional_records: tuple[str, ...] = ()

    @property
    def provisional_points(self) -> Decimal:
        return sum((i.signed for i in self.provisional), ZERO)


class Ranking(BaseModel):
    model_config = ConfigDict(frozen=True)

    rank: int
    company: str
    score: Decimal
    level: Level
    previous_score: Decimal | None = None
    previous_level: Level | None = None
    previous_rank: int | None = None

    @property
    def change(self) -> Decimal | None:
        return None if self.previous_score is None else self.score - self.previous_score


# ------------------------------------------------------------------------------ scoring


def score_company(
    company: str,
    records: Iterable[Record],
    standard: ScoringStandard,
    period: Period,
    as_of: datetime | None = None,
    *,
    include_provisional: bool = False,
) -> CompanyScore:
    """Score one company for one half year from its records (others' records are ignored).

    Unverified records are left out of the score and priced apart in ``provisional``
    (as if verified, on their own); ``include_provisional`` counts them in the score.
    """
    as_of = min(as_of or period.end, period.end)
    # what happened after ``as_of`` is not known yet at ``as_of``
    start, end = period.start, period.end
    all_mine = _unique(
        r for r in records if r.company == company and start <= r.at <= as_of and r.at < end
    )
    pending = [r for r in all_mine if r.counts and not r.verified]
    if include_provisional:
        mine, pending = all_mine, []
    else:
        mine = [r for r in all_mine if r.verified or not r.counts]
    provisional: tuple[ScoreItem, ...] = ()
    if pending:
        verified_copies = [r.model_copy(update={"verified": True}) for r in pending]
        priced = score_company(company, verified_copies, standard, period, as_of)
        provisional = priced.items
    unscored: list[str] = []
    deductions = (
        _capped(_violations(mine, standard, unscored), standard.violation_cap)
        + _capped(_downtime(mine, standard, period, as_of), standard.service.device_offline.cap)
        + _late_repairs(mine, standard, as_of)
        + _capped(_complaints(mine, standard), standard.complaint_cap)
        + _capped(_failed_items(mine, standard), standard.inspections.cap)
        + _capped(_overdue(mine, standard, as_of), standard.overdue.cap)
        + _capped(_repeats(mine, standard), standard.repeat.cap)
    )
    bonuses = _capped(_bonuses(mine, standard, as_of), standard.bonuses.cap)
    lost = sum((i.points for i in deductions), ZERO)
    won = sum((i.points for i in bonuses), ZERO)
    raw = dec(standard.base) - lost + won
    score = min(max(raw, dec(standard.min_score)), dec(standard.max_score)).quantize(CENT)
    return CompanyScore(
        company=company,
        period=str(period),
        standard_version=standard.version,
        as_of=as_of,
        base=dec(standard.base),
        deductions=lost,
        bonuses=won,
        score=score,
        level=standard.level_for(score),
        items=tuple(deductions + bonuses),
        record_count=len(mine),
        unscored=tuple(sorted(unscored)),
        provisional=provisional,
        provisional_records=tuple(r.id for r in pending),
    )


def score_all(
    records: Sequence[Record],
    standard: ScoringStandard,
    period: Period,
    companies: Iterable[str] = (),
    as_of: datetime | None = None,
    *,
    include_provisional: bool = False,
) -> dict[str, CompanyScore]:
    """Score every company named in ``companies`` or in the records."""
    by_company: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_company[record.company].append(record)
    names = sorted(set(companies) | set(by_company))
    return {
        c: score_company(
            c, by_company[c], standard, period, as_of, include_provisional=include_provisional
        )
        for c in names
    }


def rank(
    scores: Mapping[str, CompanyScore], previous: Mapping[str, CompanyScore] | None = None
) -> list[Ranking]:
    """Highest score first; equal scores share a rank (1, 2, 2, 4); ties listed by id."""
    previous = previous or {}
    prev_ranks = {r.company: r.rank for r in _ranked(previous)} if previous else {}
    result = []
    for position, company_score in _ranked_pairs(scores):
        before = previous.get(company_score.company)
        result.append(
            Ranking(
                rank=position,
                company=company_score.company,
                score=company_score.score,
                level=company_score.level,
                previous_score=before.score if before else None,
                previous_level=before.level if before else None,
                previous_rank=prev_ranks.get(company_score.company),
            )
        )
    return result


def _ranked(scores: Mapping[str, CompanyScore]) -> list[Ranking]:
    return [
        Ranking(rank=pos, company=s.company, score=s.score, level=s.level)
        for pos, s in _ranked_pairs(scores)
    ]


def _ranked_pairs(scores: Mapping[str, CompanyScore]) -> list[tuple[int, CompanyScore]]:
    ordered = sorted(scores.values(), key=lambda s: (-s.score, s.company))
    pairs: list[tuple[int, CompanyScore]] = []
    for index, item in enumerate(ordered):
        same = pairs and pairs[-1][1].score == item.score
        pairs.append((pairs[-1][0] if same else index + 1, item))
    return pairs


# ------------------------------------------------------------------------------ rules


def _unique(records: Iterable[Record]) -> list[Record]:
    by_id: dict[str, Record] = {}
    for record in records:
        if record.id in by_id and by_id[record.id] != record:
            raise ValueError(f"two different records share the id {record.id!r}")
        by_id[record.id] = record
    return sorted(by_id.values(), key=lambda r: (r.at, r.id))


def _item(
    kind: ItemKind, rule: str, points: Decimal, *records: Record, note: str = ""
) -> ScoreItem:
    return ScoreItem(
        kind=kind,
        rule=rule,
        points=points.quantize(CENT),
        record_ids=tuple(r.id for r in records),
        evidence=tuple(e for r in records for e in r.evidence),
        site=records[0].site if records else "",
        at=records[0].at if records else None,
        note=note,
    )


def _deduct(rule: str, points: Decimal, *records: Record, note: str = "") -> ScoreItem:
    return _item(ItemKind.DEDUCTION, rule, points, *records, note=note)


def _capped(items: list[ScoreItem], cap: float) -> list[ScoreItem]:
    """Apply a total cap in record order; items past the cap stay, with 0 points and a note."""
    remaining = dec(cap)
    out = []
    for item in items:
        if item.points <= ZERO:
            continue
        granted = min(item.points, remaining)
        remaining -= granted
        if granted < item.points:
            note = f"{item.note}; " if item.note else ""
            note += f"capped at {cap:g} for this group ({item.points} -> {granted})"
            item = item.model_copy(update={"points": granted, "note": note})
        out.append(item)
    return out


def _violations(records: list[Record], std: ScoringStandard, unscored: list[str]) -> list[Any]:
    items = []
    for r in records:
        if r.kind is not RecordKind.VIOLATION or not r.counts or r.type == "device_offline":
            continue
        table = std.violations.get(r.type)
        if table is None:
            unscored.append(r.id)
            continue
        points = table.points(r.severity)
        if points > 0:  # a refused blacklisted car costs nothing: no item to build
            items.append(_deduct(f"violations.{r.type}.{r.severity}", points, r))
    return items


def outage_hours(r: Record, period: Period, as_of: datetime) -> float:
    """Hours a device_offline record kept its device down inside the period, up to as_of."""
    start = max(r.at, period.start)
    end = min(r.rectified_at or as_of, as_of, period.end)
    return max((end - start).total_seconds() / 3600, 0.0)


def _downtime(
    records: list[Record], std: ScoringStandard, period: Period, as_of: datetime
) -> list[ScoreItem]:
    rule = std.service.device_offline
    items: list[ScoreItem] = []
    for r in records:
        if r.kind is not RecordKind.VIOLATION or not r.counts or r.type != "device_offline":
            continue
        hours = outage_hours(r, period, as_of)
        # hours to the second (6 decimals), points rounded to the cent
        billable = dec(round(max(hours - rule.grace_hours, 0.0), 6))
        points = (billable * dec(rule.points_per_hour)).quantize(CENT)
        if points > 0:
            state = "back online" if r.rectified_at and r.rectified_at <= as_of else "still offline"
            note = f"offline {hours:.2f} h ({state}), {rule.grace_hours:g} h free, {billable:.2f} h"
            items.append(_deduct("service.device_offline", points, r, note=note))
    return items


def _late_repairs(records: list[Record], std: ScoringStandard, as_of: datetime) -> list[Any]:
    items = []
    for r in records:
        hours = std.service.repair_deadline_hours.get(r.type)
        if r.kind is not RecordKind.VIOLATION or not r.counts or hours is None:
            continue
        deadline = r.at + timedelta(hours=hours)
        late = _lateness(deadline, r.rectified_at, as_of)
        if late is not None:
            note = f"not repaired within {hours:g} h (deadline {_local(deadline)})"
            items.append(
                _deduct(
                    f"service.late_repair.{r.type}",
                    dec(std.service.late_repair_points),
                    r,
                    note=note,
                )
            )
    return items


def _complaints(records: list[Record], std: ScoringStandard) -> list[Any]:
    items = []
    for r in records:
        if r.kind is not RecordKind.COMPLAINT or not r.counts:
            continue
        category = r.type if r.type in std.complaints else "other"
        table = std.complaints[category]
        items.append(_deduct(f"complaints.{category}.{r.severity}", table.points(r.severity), r))
    return items


def _failed_items(records: list[Record], std: ScoringStandard) -> list[Any]:
    items = []
    for r in records:
        if r.kind is not RecordKind.INSPECTION or not r.counts:
            continue
        for check in r.checklist:
            if not check.passed:
                points = std.inspections.failed_item.points(check.severity)
                note = f"{check.code} {check.label}: {check.note}".strip(": ")
                rule = f"inspections.failed_item.{check.severity}"
                items.append(_deduct(rule, points, r, note=note))
    return items


def _local(when: datetime) -> str:
    return when.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def _lateness(deadline: datetime, done: datetime | None, as_of: datetime) -> timedelta | None:
    """How late, or None when done in time or not due yet."""
    if done is not None and done <= deadline:
        return None
    end = done if done is not None and done <= as_of else as_of
    return end - deadline if end > deadline else None


def _is_repair_type(r: Record, std: ScoringStandard) -> bool:
    return r.kind is RecordKind.VIOLATION and r.type in std.service.repair_deadline_hours


def _overdue(records: list[Record], std: ScoringStandard, as_of: datetime) -> list[Any]:
    rules = std.overdue
    items = []
    for r in records:
        if r.deadline is None or not r.counts or _is_repair_type(r, std):
            continue  # service repairs have their own deadline rule
        if r.kind not in (RecordKind.ORDER, RecordKind.VIOLATION, RecordKind.COMPLAINT):
            continue
        late = _lateness(r.deadline, r.rectified_at, as_of)
        if late is None:
            continue
        days = math.floor(late / timedelta(days=1))
        base = rules.order if r.kind is RecordKind.ORDER else rules.case
        points = min(dec(base) + dec(rules.per_day) * days, dec(rules.per_item_cap))
        what = "order" if r.kind is RecordKind.ORDER else "case"
        done = f"rectified {_local(r.rectified_at)}" if r.rectified_at else "not rectified"
        note = f"deadline {_local(r.deadline)}, {done}, {days} whole day(s) late"
        items.append(_deduct(f"overdue.{what}", points, r, note=note))
    return items


def _repeats(records: list[Record], std: ScoringStandard) -> list[Any]:
    """The n-th occurrence of one problem at one community, past the threshold, costs extra."""
    seen: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    items = []
    for r in records:
        if not r.counts or not _costs_points(r, std):
            continue
        key = (r.site, r.kind.value, r.type)
        seen[key].append(r)
        count = len(seen[key])
        if count > std.repeat.threshold:
            note = f"occurrence {count} of {r.type} at {r.site} this half year"
            items.append(
                _deduct(f"repeat.{r.kind.value}.{r.type}", dec(std.repeat.points), r, note=note)
            )
    return items


def _costs_points(r: Record, std: ScoringStandard) -> bool:
    if r.kind is RecordKind.VIOLATION:
        table = std.violations.get(r.type)
        return table is not None and table.points(r.severity) > 0
    return r.kind is RecordKind.COMPLAINT


def _bonuses(records: list[Record], std: ScoringStandard, as_of: datetime) -> list[Any]:
    rules = std.bonuses
    commendations = [
        _item(ItemKind.BONUS, "bonuses.commendation", dec(rules.commendation), r)
        for r in records
        if r.kind is RecordKind.COMMENDATION and r.counts
    ]
    clean = [
        _item(ItemKind.BONUS, "bonuses.clean_inspection", dec(rules.clean_inspection), r)
        for r in records
        if r.kind is RecordKind.INSPECTION
        and r.counts
        and r.checklist
        and all(c.passed for c in r.checklist)
    ]
    items = _capped(commendations, rules.commendation_cap) + _capped(
        clean, rules.clean_inspection_cap
    )
    orders = [r for r in records if r.kind is RecordKind.ORDER and r.counts]
    on_time = all(
        r.deadline is not None
        and r.rectified_at is not None
        and r.rectified_at <= r.deadline
        and r.rectified_at <= as_of
        for r in orders
    )
    if orders and on_time:
        note = f"{len(orders)} order(s), all rectified by their deadlines"
        items.append(
            _item(
                ItemKind.BONUS,
                "bonuses.all_orders_on_time",
                dec(rules.all_orders_on_time),
                *orders,
                note=note,
            )
        )
    return items
