"""Retention cut-offs from the site config: pure functions, no I/O.

An event older than ``evidence`` loses its evidence snapshots (payload keys ending in
``_jpeg_b64``) unless a violation names it as evidence, which keeps them until
``violation_evidence``. An event older than ``events`` is deleted unless it is a violation's
evidence. A person whose every face consent expired before ``consent`` is erased.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.site import Retention, SiteConfig

EVIDENCE_SUFFIX = "_jpeg_b64"  # any payload key ending so is an evidence snapshot


def is_evidence_key(key: object) -> bool:
    return isinstance(key, str) and key.endswith(EVIDENCE_SUFFIX)


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """One site's cut-off times: what is older than these is purged."""

    site: str
    evidence: datetime
    violation_evidence: datetime
    events: datetime
    consent: datetime

    def as_dict(self) -> dict[str, str]:
        return {
            "evidence": self.evidence.isoformat(),
            "violation_evidence": self.violation_evidence.isoformat(),
            "events": self.events.isoformat(),
            "consent": self.consent.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    now: datetime
    sites: tuple[Cutoffs, ...]
    rejected: datetime  # rejected messages older than this are deleted


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("retention needs a timezone-aware 'now'")
    return now


def cutoffs(site: str, retention: Retention, now: datetime) -> Cutoffs:
    now = _aware(now)
    return Cutoffs(
        site=site,
        evidence=now - timedelta(days=retention.evidence_days),
        violation_evidence=now - timedelta(days=retention.evidence_days_violation),
        events=now - timedelta(days=retention.events_days),
        consent=now - timedelta(days=retention.face_consent_grace_days),
    )


def rejected_cutoff(retentions: Iterable[Retention], now: datetime) -> datetime:
    """Rejected messages carry no reliable site (they failed validation), so the shortest
    ``rejected_days`` of the hub's sites applies to all: a reject may hold a snapshot."""
    days = [r.rejected_days for r in retentions]
    if not days:
        raise ValueError("no site to plan retention for")
    return _aware(now) - timedelta(days=min(days))


def plan(sites: Sequence[SiteConfig], now: datetime) -> RetentionPlan:
    return RetentionPlan(
        now=_aware(now),
        sites=tuple(cutoffs(s.site.id, s.retention, now) for s in sites),
        rejected=rejected_cutoff((s.retention for s in sites), now),
    )


def lapsed_persons(expiries: Mapping[str, Sequence[datetime]], before: datetime) -> list[str]:
    """Persons whose every consent expired before ``before`` (a person with no consent
    record at all holds face data without consent: lapsed too)."""
    return sorted(person for person, ends in expiries.items() if all(end < before for end in ends))
