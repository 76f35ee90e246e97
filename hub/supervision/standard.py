"""The scoring standard (评分标准) as data: a versioned YAML file, validated strictly.

Unknown keys and bad values are rejected with the file name, the key path and the reason
(``models.site.ConfigError``), so a typo in a standard can never silently score nothing.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.supervision.periods import Period
from models.site import PROJECT_ROOT, load_yaml, parse_config

STANDARD_DIR = PROJECT_ROOT / "config" / "scoring"
DEFAULT_STANDARD = STANDARD_DIR / "standard-v1.yaml"

Points = float  # YAML gives floats; scoring converts to Decimal (exact sums, any order)
NonNeg = Field(ge=0)


class Level(StrEnum):
    EXCELLENT = "excellent"  # 优秀
    GOOD = "good"  # 良好
    PASS = "pass"  # 及格
    FAIL = "fail"  # 不及格


LEVEL_ORDER = (Level.EXCELLENT, Level.GOOD, Level.PASS, Level.FAIL)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeverityPoints(_Strict):
    info: Points = NonNeg
    warning: Points = NonNeg
    critical: Points = NonNeg

    def points(self, severity: str) -> Decimal:
        return dec(getattr(self, severity))


class LevelThreshold(_Strict):
    level: Level
    min: Points


class DowntimeRule(_Strict):
    grace_hours: Points = NonNeg
    points_per_hour: Points = NonNeg
    cap: Points = NonNeg


class ServiceRules(_Strict):
    device_offline: DowntimeRule
    repair_deadline_hours: dict[str, Points] = Field(default_factory=dict)
    late_repair_points: Points = NonNeg

    @field_validator("repair_deadline_hours")
    @classmethod
    def _positive(cls, value: dict[str, Points]) -> dict[str, Points]:
        for key, hours in value.items():
            if hours <= 0:
                raise ValueError(f"{key}: deadline must be more than 0 hours")
        return value


class InspectionRules(_Strict):
    failed_item: SeverityPoints
    cap: Points = NonNeg


class OverdueRules(_Strict):
    order: Points = NonNeg
    case: Points = NonNeg
    per_day: Points = NonNeg
    per_item_cap: Points = NonNeg
    cap: Points = NonNeg


class RepeatRules(_Strict):
    threshold: int = Field(ge=1)
    points: Points = NonNeg
    cap: Points = NonNeg


class BonusRules(_Strict):
    commendation: Points = NonNeg
    commendation_cap: Points = NonNeg
    clean_inspection: Points = NonNeg
    clean_inspection_cap: Points = NonNeg
    all_orders_on_time: Points = NonNeg
    cap: Points = NonNeg


class ScoringStandard(_Strict):
    version: int = Field(ge=1)
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    effective_from: str
    base: Points = Field(gt=0)
    min_score: Points = 0
    max_score: Points
    levels: list[LevelThreshold]
    violations: dict[str, SeverityPoints]
    violation_cap: Points = NonNeg
    service: ServiceRules
    complaints: dict[str, SeverityPoints]
    complaint_cap: Points = NonNeg
    inspections: InspectionRules
    overdue: OverdueRules
    repeat: RepeatRules
    bonuses: BonusRules

    @field_validator("effective_from")
    @classmethod
    def _period(cls, value: str) -> str:
        return str(Period.parse(value))

    @model_validator(mode="after")
    def _consistent(self) -> ScoringStandard:
        check_levels(self.levels, self.min_score)
        if not self.min_score <= self.base <= self.max_score:
            raise ValueError("need min_score <= base <= max_score")
        if "other" not in self.complaints:
            raise ValueError("complaints needs an 'other' category for unlisted categories")
        return self

    def level_for(self, score: Decimal | float) -> Level:
        return level_for(score, self.levels)


def check_levels(levels: list[LevelThreshold], min_score: float = 0) -> None:
    """The four levels, best first, with strictly falling minimums; the last covers all."""
    names = tuple(t.level for t in levels)
    if names != LEVEL_ORDER:
        raise ValueError(f"levels must be {[str(x) for x in LEVEL_ORDER]} in this order")
    mins = [t.min for t in levels]
    if any(a <= b for a, b in itertools.pairwise(mins)):
        raise ValueError(f"level minimums must fall strictly: {mins}")
    if mins[-1] > min_score:
        raise ValueError(f"the lowest level must start at or below min_score {min_score}")


def level_for(score: Decimal | float, levels: list[LevelThreshold]) -> Level:
    for threshold in levels:
        if dec(score) >= dec(threshold.min):
            return threshold.level
    return levels[-1].level


def dec(value: float | int | Decimal) -> Decimal:
    """Exact decimal of a YAML number (via its shortest text form)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def load_standard(path: Path | str = DEFAULT_STANDARD) -> ScoringStandard:
    path = Path(path)
    return parse_config(ScoringStandard, load_yaml(path), path)
