"""Scoring standard, periods and the pure scoring function (properties with hypothesis)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.supervision.periods import TZ, Period, PeriodError
from hub.supervision.scoring import (
    CheckItem,
    ItemKind,
    Record,
    RecordKind,
    rank,
    score_all,
    score_company,
)
from hub.supervision.standard import (
    DEFAULT_STANDARD,
    Level,
    LevelThreshold,
    check_levels,
    level_for,
    load_standard,
)
from models.site import ConfigError

STD = load_standard()
H2 = Period.parse("2026H2")
T0 = datetime(2026, 8, 3, 9, 0, tzinfo=TZ)


def rec(rid: str, kind: RecordKind, **kw) -> Record:
    fields = {"company": "acme", "site": "s1", "at": T0} | kw
    return Record(id=f"{kind.value}:{rid}", kind=kind, **fields)


# ------------------------------------------------------------------ periods


def test_period_bounds_are_shanghai_half_years() -> None:
    p = Period.parse("2026h2")
    assert str(p) == "2026H2"
    assert p.start == datetime(2026, 7, 1, tzinfo=TZ)
    assert p.end == datetime(2027, 1, 1, tzinfo=TZ)
    assert p.previous() == Period(2026, 1) and p.next() == Period(2027, 1)
    assert p.months()[0] == "2026-07" and p.months()[-1] == "2026-12"
    # 2026-06-30 17:00 UTC is already 1 July in Shanghai
    assert Period.of(datetime.fromisoformat("2026-06-30T17:00:00+00:00")) == p
    assert not p.contains(datetime.fromisoformat("2026-06-30T15:59:59+00:00"))
    with pytest.raises(PeriodError):
        Period.parse("2026H3")


# ------------------------------------------------------------------ the standard


def test_standard_rejects_unknown_key_naming_file_and_key(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_STANDARD.read_text(encoding="utf-8"))
    data["complaints"]["parking"]["severe"] = 3
    bad = tmp_path / "standard-bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_standard(bad)
    assert str(bad) in str(err.value) and "complaints.parking.severe: unknown key" in str(err.value)


def test_standard_rejects_non_monotone_levels(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_STANDARD.read_text(encoding="utf-8"))
    data["levels"][1]["min"] = 95
    bad = tmp_path / "standard-bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="fall strictly"):
        load_standard(bad)


@given(
    st.lists(st.floats(0, 100, allow_nan=False), min_size=3, max_size=3, unique=True),
    st.floats(0, 105, allow_nan=False),
    st.floats(0, 105, allow_nan=False),
)
def test_level_thresholds_are_monotone(mins: list[float], a: float, b: float) -> None:
    top, mid, low = sorted(mins, reverse=True)
    levels = [
        LevelThreshold(level=Level.EXCELLENT, min=top),
        LevelThreshold(level=Level.GOOD, min=mid),
        LevelThreshold(level=Level.PASS, min=low),
        LevelThreshold(level=Level.FAIL, min=0 if low > 0 else -1),
    ]
    check_levels(levels, 0)
    order = [Level.FAIL, Level.PASS, Level.GOOD, Level.EXCELLENT]
    hi, lo = max(a, b), min(a, b)
    assert order.index(level_for(hi, levels)) >= order.index(level_for(lo, levels))
    assert level_for(top, levels) is Level.EXCELLENT


def test_default_levels() -> None:
    assert [STD.level_for(s) for s in (100, 90, 89.99, 80, 60, 59.99, 0)] == [
        Level.EXCELLENT,
        Level.EXCELLENT,
        Level.GOOD,
        Level.GOOD,
        Level.PASS,
        Level.FAIL,
        Level.FAIL,
    ]


# ------------------------------------------------------------------ rules, example by example


def test_clean_record_scores_base_and_others_records_are_ignored() -> None:
    other = rec("x", RecordKind.COMPLAINT, company="other", type="parking")
    result = score_company("acme", [other], STD, H2)
    assert result.score == Decimal(100) and result.level is Level.EXCELLENT and not result.items


def test_each_deduction_names_rule_records_and_evidence() -> None:
    records = [
        rec(
            "v1",
            RecordKind.VIOLATION,
            type="camera_tamper",
            severity="critical",
            evidence=("evt-a",),
            rectified_at=T0 + timedelta(hours=2),
        ),
        rec(
            "v2",
            RecordKind.VIOLATION,
            type="device_offline",
            evidence=("evt-b", "evt-c"),
            rectified_at=T0 + timedelta(hours=14),
        ),
        rec("v3", RecordKind.VIOLATION, type="gate_fault", evidence=("evt-d",)),
        rec("c1", RecordKind.COMPLAINT, type="parking", severity="warning"),
        rec("c2", RecordKind.COMPLAINT, type="noise", severity="info", counts=True),
        rec("c3", RecordKind.COMPLAINT, type="security", counts=False),  # dismissed
        rec(
            "o1",
            RecordKind.ORDER,
            type="fire lane",
            deadline=T0 + timedelta(days=2),
            rectified_at=T0 + timedelta(days=5, hours=1),
        ),
        rec(
            "i1",
            RecordKind.INSPECTION,
            type="spot_check",
            checklist=(
                CheckItem(code="P1", label="patrol log", passed=False, severity="critical"),
                CheckItem(code="P2", label="fire exits", passed=True),
            ),
        ),
    ]
    result = score_company("acme", records, STD, H2)
    by_rule = {i.rule: i for i in result.items}
    assert by_rule["violations.camera_tamper.critical"].points == Decimal("2.00")
    assert by_rule["violations.camera_tamper.critical"].evidence == ("evt-a",)
    downtime = by_rule["service.device_offline"]  # 14 h offline, 4 h free, 0.1 per hour
    assert downtime.points == Decimal("1.00") and downtime.evidence == ("evt-b", "evt-c")
    assert by_rule["service.late_repair.gate_fault"].record_ids == ("violation:v3",)
    assert "service.late_repair.camera_tamper" not in by_rule  # repaired in 2 h
    assert by_rule["complaints.parking.warning"].points == Decimal("1.00")
    assert by_rule["complaints.other.info"].record_ids == ("complaint:c2",)
    assert not any("security" in i.rule for i in result.items)
    overdue = by_rule["overdue.order"]  # 3 days 1 hour late: 5 + 3 * 0.5
    assert overdue.points == Decimal("6.50") and overdue.record_ids == ("order:o1",)
    assert by_rule["inspections.failed_item.critical"].note.startswith("P1 patrol log")
    total = sum(i.signed for i in result.items)
    assert result.score == Decimal(100) + total == Decimal("83.00")
    assert result.level is Level.GOOD


def test_open_items_use_as_of_and_repeats_and_caps() -> None:
    complaints = [
        rec(
            f"c{n}",
            RecordKind.COMPLAINT,
            type="repair",
            severity="critical",
            at=T0 + timedelta(days=n),
        )
        for n in range(12)
    ]
    result = score_company("acme", complaints, STD, H2)
    complaint_points = [i.points for i in result.items if i.rule.startswith("complaints.")]
    assert sum(complaint_points) == Decimal(25)  # 12 x 3 capped at 25
    assert complaint_points[-1] == 0 and "capped" in result.items[11].note
    repeats = [i for i in result.items if i.rule.startswith("repeat.")]
    assert next(i.record_ids for i in repeats) == ("complaint:c3",)  # the 4th occurrence
    assert len(repeats) == 9
    order = rec("o", RecordKind.ORDER, deadline=T0 + timedelta(days=1))
    before = score_company("acme", [order], STD, H2, as_of=T0 + timedelta(hours=12))
    after = score_company("acme", [order], STD, H2, as_of=T0 + timedelta(days=4))
    assert before.score == 100 and after.score == Decimal("93.50")  # 5 + 3 days x 0.5


def test_bonuses_for_commendations_clean_inspections_and_orders_on_time() -> None:
    records = [
        rec("k1", RecordKind.COMMENDATION),
        rec("i1", RecordKind.INSPECTION, checklist=(CheckItem(code="A", passed=True),)),
        rec(
            "o1",
            RecordKind.ORDER,
            deadline=T0 + timedelta(days=3),
            rectified_at=T0 + timedelta(days=1),
        ),
        rec("c1", RecordKind.COMPLAINT, type="cleaning"),
    ]
    result = score_company("acme", records, STD, H2)
    bonuses = {i.rule: i.points for i in result.items if i.kind is ItemKind.BONUS}
    assert bonuses == {
        "bonuses.commendation": 1,
        "bonuses.clean_inspection": 1,
        "bonuses.all_orders_on_time": 2,
    }
    assert result.score == Decimal("103.00")


def test_rank_ties_and_change_against_previous_half() -> None:
    H1 = H2.previous()
    now = [
        rec("a", RecordKind.COMPLAINT, company="a", type="parking"),
        rec("b", RecordKind.COMPLAINT, company="b", type="parking"),
        rec("c", RecordKind.COMPLAINT, company="c", type="repair", severity="critical"),
    ]
    before = [rec("pa", RecordKind.COMPLAINT, company="a", at=T0.replace(month=3), type="parking")]
    ranking = rank(
        score_all(now, STD, H2, companies=["d"]),
        score_all(before, STD, H1, companies=["a", "b", "c"]),
    )
    assert [(r.company, r.rank) for r in ranking] == [("d", 1), ("a", 2), ("b", 2), ("c", 4)]
    a = ranking[1]
    assert a.previous_score == Decimal(99) and a.change == 0 and a.previous_rank == 3
    assert ranking[0].previous_score is None and ranking[0].change is None


# ------------------------------------------------------------------ properties

SEVERITIES = st.sampled_from(["info", "warning", "critical"])
MINUTES = st.integers(0, 180 * 24 * 60 - 1)


@st.composite
def deduction_records(draw: st.DrawFn) -> Record:
    """A verified record of a kind that can only cost points."""
    rid = draw(st.uuids()).hex
    at = H2.start + timedelta(minutes=draw(MINUTES))
    kind = draw(st.sampled_from(["violation", "complaint", "late_order", "failed_inspection"]))
    if kind == "violation":
        vtype = draw(st.sampled_from([*STD.violations, "device_offline"]))
        hours = draw(st.none() | st.integers(0, 500))
        return rec(
            rid,
            RecordKind.VIOLATION,
            at=at,
            type=vtype,
            severity=draw(SEVERITIES),
            rectified_at=None if hours is None else at + timedelta(hours=hours),
            evidence=(f"evt-{rid}",),
        )
    if kind == "complaint":
        return rec(
            rid,
            RecordKind.COMPLAINT,
            at=at,
            severity=draw(SEVERITIES),
            type=draw(st.sampled_from([*STD.complaints, "noise"])),
        )
    if kind == "late_order":
        deadline = at + timedelta(hours=draw(st.integers(1, 500)))
        late = draw(st.none() | st.integers(1, 500))
        return rec(
            rid,
            RecordKind.ORDER,
            at=at,
            deadline=deadline,
            rectified_at=None if late is None else deadline + timedelta(hours=late),
        )
    checks = draw(
        st.lists(
            st.builds(
                CheckItem,
                code=st.text("ABC123", min_size=1, max_size=3),
                severity=SEVERITIES,
                passed=st.booleans(),
            ),
            min_size=1,
            max_size=4,
        ).filter(lambda items: not all(c.passed for c in items))
    )
    return rec(rid, RecordKind.INSPECTION, at=at, checklist=tuple(checks))


@st.composite
def any_records(draw: st.DrawFn) -> Record:
    if draw(st.booleans()):
        return draw(deduction_records())
    rid = draw(st.uuids()).hex
    at = H2.start + timedelta(minutes=draw(MINUTES))
    kind = draw(st.sampled_from(["commendation", "order", "inspection"]))
    if kind == "commendation":
        return rec(rid, RecordKind.COMMENDATION, at=at)
    if kind == "order":
        deadline = at + timedelta(days=draw(st.integers(1, 30)))
        done = draw(st.none() | st.integers(-100, 100))
        return rec(
            rid,
            RecordKind.ORDER,
            at=at,
            deadline=deadline,
            rectified_at=None if done is None else deadline + timedelta(hours=done),
        )
    return rec(rid, RecordKind.INSPECTION, at=at, checklist=(CheckItem(code="A", passed=True),))


AS_OF = st.none() | st.builds(lambda m: H2.start + timedelta(minutes=m), MINUTES)


@settings(max_examples=150, deadline=None)
@given(st.lists(any_records(), max_size=25), deduction_records(), AS_OF)
def test_adding_a_verified_deduction_never_raises_the_score(records, extra, as_of) -> None:
    before = score_company("acme", records, STD, H2, as_of)
    after = score_company("acme", [*records, extra], STD, H2, as_of)
    assert after.score <= before.score
    assert after.deductions >= before.deductions


@settings(max_examples=150, deadline=None)
@given(st.lists(any_records(), max_size=25), st.randoms(use_true_random=False), AS_OF)
def test_record_order_does_not_change_the_result(records, rnd, as_of) -> None:
    shuffled = list(records)
    rnd.shuffle(shuffled)
    assert score_company("acme", records, STD, H2, as_of) == score_company(
        "acme", shuffled, STD, H2, as_of
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(any_records(), max_size=25), AS_OF)
def test_score_is_base_plus_traceable_items_and_level_matches(records, as_of) -> None:
    result = score_company("acme", records, STD, H2, as_of)
    raw = result.base + sum((i.signed for i in result.items), Decimal(0))
    assert result.score == min(max(raw, Decimal(0)), Decimal(105))
    assert result.level is STD.level_for(result.score)
    for item in result.items:
        assert item.record_ids and item.points >= 0
        assert set(item.record_ids) <= {r.id for r in records}


@pytest.mark.parametrize(
    "path", sorted(DEFAULT_STANDARD.parent.glob("*.yaml")), ids=lambda p: p.name
)
def test_every_shipped_standard_loads(path: Path) -> None:
    standard = load_standard(path)
    assert path.stem.endswith(f"v{standard.version}")  # the file name says its version


# ------------------------------------------------------------------ verified only (issue 17)


def test_unverified_alarms_do_not_move_the_score_and_are_priced_apart() -> None:
    """A burst of untriaged alarms (all still "new") leaves the published score alone."""
    verified = rec("v1", RecordKind.VIOLATION, type="door_forced", severity="critical")
    burst = [
        rec(f"n{k}", RecordKind.VIOLATION, type="door_forced", severity="critical",
            verified=False, at=T0 + timedelta(minutes=k))
        for k in range(6)
    ]  # fmt: skip
    only = score_company("acme", [verified], STD, H2)
    mixed = score_company("acme", [verified, *burst], STD, H2)
    assert mixed.score == only.score and mixed.items == only.items
    assert mixed.provisional_records == tuple(r.id for r in burst)
    assert mixed.provisional and all(i.kind is ItemKind.DEDUCTION for i in mixed.provisional)
    assert {rid for i in mixed.provisional for rid in i.record_ids} <= set(
        mixed.provisional_records
    )
    # counted in, they are exactly what verifying them would cost
    counted = score_company("acme", [verified, *burst], STD, H2, include_provisional=True)
    assert counted.score < only.score and not counted.provisional
    all_verified = [verified, *(r.model_copy(update={"verified": True}) for r in burst)]
    assert counted.score == score_company("acme", all_verified, STD, H2).score


def test_dismissed_unverified_record_is_neither_counted_nor_provisional() -> None:
    gone = rec("c1", RecordKind.COMPLAINT, type="parking", verified=False, counts=False)
    result = score_company("acme", [gone], STD, H2)
    assert result.score == Decimal(100) and not result.provisional_records
    assert result.provisional_points == Decimal(0)


def test_score_all_passes_the_choice_on() -> None:
    pending = rec("c2", RecordKind.COMPLAINT, type="parking", verified=False)
    default = score_all([pending], STD, H2)["acme"]
    counted = score_all([pending], STD, H2, include_provisional=True)["acme"]
    assert default.score == Decimal(100) and default.provisional_points < 0
    assert counted.score == Decimal(100) + default.provisional_points


def test_every_violation_type_has_words() -> None:
    from hub.rules import ViolationType
    from hub.supervision.labels import VIOLATION_TYPES

    assert {t.value for t in ViolationType} <= set(VIOLATION_TYPES)
