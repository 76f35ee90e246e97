"""The half-year rating of every company: records from the repo, the pure scoring, ranking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.supervision.periods import Period
from hub.supervision.repo import SupervisionRepo
from hub.supervision.scoring import CompanyScore, Ranking, Record, rank, score_all
from hub.supervision.standard import ScoringStandard
from models.messages import utcnow


@dataclass(frozen=True)
class Rating:
    period: Period
    standard: ScoringStandard
    as_of: datetime
    scores: dict[str, CompanyScore]
    previous: dict[str, CompanyScore]
    ranking: list[Ranking]
    records: dict[str, Record]  # this period's records by id: what every item points to
    companies: dict[str, dict[str, Any]]  # id -> {id, name, sites}


async def compute_rating(
    repo: SupervisionRepo,
    period: Period,
    standard: ScoringStandard,
    as_of: datetime | None = None,
) -> Rating:
    """Score and rank every known company; the previous half year is scored at its end."""
    as_of = min(as_of or utcnow(), period.end)
    companies = {c["id"]: c for c in await repo.companies()}
    records = await repo.records(period)
    previous_period = period.previous()
    before = await repo.records(previous_period)
    scores = score_all(records, standard, period, companies, as_of)
    previous = score_all(before, standard, previous_period, (), previous_period.end)
    return Rating(
        period=period,
        standard=standard,
        as_of=as_of,
        scores=scores,
        previous=previous,
        ranking=rank(scores, previous),
        records={r.id: r for r in records},
        companies=companies,
    )
