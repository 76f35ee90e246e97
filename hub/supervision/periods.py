"""Half-year rating periods: ``2026H1`` is [2026-01-01, 2026-07-01) in Asia/Shanghai."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")  # the county's clock decides which half year a record is in
_PATTERN = re.compile(r"^(\d{4})H([12])$")


class PeriodError(ValueError):
    pass


@dataclass(frozen=True, order=True, slots=True)
class Period:
    year: int
    half: int  # 1: January-June, 2: July-December

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PATTERN.match(text.strip().upper())
        if not match:
            raise PeriodError(f"{text!r} is not a half-year period like 2026H2")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, when: datetime) -> Period:
        local = when.astimezone(TZ)
        return cls(local.year, 1 if local.month <= 6 else 2)

    @property
    def start(self) -> datetime:
        return datetime(self.year, 1 if self.half == 1 else 7, 1, tzinfo=TZ)

    @property
    def end(self) -> datetime:
        """Exclusive end: the start of the next period."""
        return self.next().start

    def next(self) -> Period:
        return Period(self.year, 2) if self.half == 1 else Period(self.year + 1, 1)

    def previous(self) -> Period:
        return Period(self.year, 1) if self.half == 2 else Period(self.year - 1, 2)

    def contains(self, when: datetime) -> bool:
        return self.start <= when < self.end

    def months(self) -> list[str]:
        """The six months as ``YYYY-MM``."""
        first = 1 if self.half == 1 else 7
        return [f"{self.year}-{m:02d}" for m in range(first, first + 6)]

    def __str__(self) -> str:
        return f"{self.year}H{self.half}"


def month_of(when: datetime) -> str:
    return when.astimezone(TZ).strftime("%Y-%m")
