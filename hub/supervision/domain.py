"""Inputs of the supervision domain (validated by pydantic) and who is acting.

These are what the API and CLI accept; stored rows come back as plain dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub.supervision.workflow import Action, Decision, Role

Severity = str  # "info" | "warning" | "critical", checked by the patterns below
SEVERITY = Field(default="warning", pattern="^(info|warning|critical)$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: a user name, a role, and the communities they may see (None: all).

    The console issue replaces how this is obtained (login); the repo only needs these.
    A company or guard user sees only its own communities.
    """

    user: str
    role: Role
    sites: frozenset[str] | None = None

    def may_see(self, site: str) -> bool:
        return self.sites is None or site in self.sites


SYSTEM = Principal("hub.supervision", Role.SYSTEM)


def company_sites(info: Mapping[str, Any]) -> set[str]:
    """The repo lists a company's communities as a comma-separated text (or a list)."""
    sites = info.get("sites") or []
    if isinstance(sites, str):
        sites = sites.split(",")
    return {s.strip() for s in sites if s.strip()}


def visible_companies(
    principal: Principal, companies: Mapping[str, Mapping[str, Any]], *, all_companies: bool
) -> set[str]:
    """The companies whose scores and records ``principal`` may see: every one for the
    regulator and admins (``all_companies``), else those managing a community they see."""
    if all_companies:
        return set(companies)
    return {
        c
        for c, info in companies.items()
        if principal.sites and company_sites(info) & principal.sites
    }


# Who reported a problem is never shown to the company it was reported about.
REPORTER_FIELDS = ("reporter", "contact")
WITHHELD = "保密 / withheld"


def shield_reporter(principal: Principal | None, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` (a complaint, or an audit before/after) without the reporter for company staff."""
    if principal is None or principal.role not in (Role.GUARD, Role.COMPANY):
        return row
    return {k: (WITHHELD if k in REPORTER_FIELDS and v else v) for k, v in row.items()}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComplaintCategory(StrEnum):
    SECURITY = "security"
    PARKING = "parking"
    CLEANING = "cleaning"
    REPAIR = "repair"
    SERVICE = "service"
    OTHER = "other"


class Channel(StrEnum):
    PHONE = "phone"
    ONLINE = "online"
    VISIT = "visit"  # in person at the authority
    LETTER = "letter"
    INSPECTION = "inspection"  # found during an inspection


class ComplaintIn(_In):
    """A public report (受理举报): who, what, where, when."""

    site: str = Field(min_length=1)
    reporter: str = Field(default="anonymous", min_length=1, max_length=100)
    contact: str = Field(default="", max_length=100)
    channel: Channel = Channel.PHONE
    category: ComplaintCategory
    severity: Severity = SEVERITY
    what: str = Field(min_length=2, max_length=2000)
    location: str = Field(default="", max_length=200)
    occurred_at: AwareDatetime


class InspectionKind(StrEnum):
    OPEN = "open"  # 明察: open inspection
    UNANNOUNCED = "unannounced"  # 暗访: unannounced visit
    SPOT_CHECK = "spot_check"  # 集中抽查: spot check


class ChecklistItemIn(_In):
    code: str = Field(min_length=1, max_length=32)
    label: str = Field(min_length=1, max_length=200)
    severity: Severity = SEVERITY
    passed: bool
    note: str = Field(default="", max_length=500)


class InspectionIn(_In):
    site: str = Field(min_length=1)
    kind: InspectionKind
    date: AwareDatetime
    inspector: str = Field(min_length=1, max_length=100)
    summary: str = Field(default="", max_length=2000)
    items: list[ChecklistItemIn] = Field(min_length=1)


class OrderIn(_In):
    """A rectification order (责令整改): what, deadline, the responsible company (the
    community's manager), and optionally the record it comes from."""

    site: str = Field(min_length=1)
    what: str = Field(min_length=2, max_length=2000)
    deadline: AwareDatetime
    source: str | None = Field(
        default=None, pattern=r"^(violation|complaint|inspection):[A-Za-z0-9_.#-]+$"
    )


class CommendationIn(_In):
    """Good credit information (表扬), e.g. a residents' commendation verified by the authority."""

    site: str = Field(min_length=1)
    what: str = Field(min_length=2, max_length=2000)
    at: AwareDatetime
    source: str = Field(default="", max_length=200)


class ActionIn(_In):
    """One workflow step on a violation, complaint or order."""

    action: Action
    decision: Decision | None = None
    deadline: AwareDatetime | None = None
    note: str = Field(default="", max_length=2000)
    evidence: list[str] = Field(default_factory=list, max_length=50)
