"""Who may see and do what in the console, pure.

guard: one community; company manager: the communities its company manages;
regulator: every community, read plus supervision orders; admin: everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from hub.supervision.domain import Principal
from hub.supervision.workflow import Role


class ConsoleRole(StrEnum):
    GUARD = "guard"
    MANAGER = "manager"  # the property company's manager
    REGULATOR = "regulator"
    ADMIN = "admin"


class Permission(StrEnum):
    VIEW = "view"
    GATE_COMMAND = "gate_command"
    CREATE_PASS = "create_pass"
    CASE_WORKFLOW = "case_workflow"  # act on violations (which steps: the workflow decides)
    VIEW_AUDIT = "view_audit"
    VIEW_ALL_COMPANIES = "view_all_companies"
    MANAGE_USERS = "manage_users"


PERMISSIONS: dict[ConsoleRole, frozenset[Permission]] = {
    ConsoleRole.GUARD: frozenset(
        {Permission.VIEW, Permission.GATE_COMMAND, Permission.CREATE_PASS, Permission.CASE_WORKFLOW}
    ),
    ConsoleRole.MANAGER: frozenset(
        {Permission.VIEW, Permission.GATE_COMMAND, Permission.CREATE_PASS, Permission.CASE_WORKFLOW}
    ),
    ConsoleRole.REGULATOR: frozenset(
        {
            Permission.VIEW,
            Permission.CASE_WORKFLOW,
            Permission.VIEW_AUDIT,
            Permission.VIEW_ALL_COMPANIES,
        }
    ),
    ConsoleRole.ADMIN: frozenset(Permission),
}

# The supervision workflow's roles (hub.supervision.workflow.Role) for each console role.
WORKFLOW_ROLE: dict[ConsoleRole, Role] = {
    ConsoleRole.GUARD: Role.GUARD,
    ConsoleRole.MANAGER: Role.COMPANY,
    ConsoleRole.REGULATOR: Role.REGULATOR,
    ConsoleRole.ADMIN: Role.ADMIN,
}


class ScopeError(ValueError):
    """A user whose scope does not fit the role or the configured communities."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """A logged-in user. ``sites`` None: every community."""

    username: str
    role: ConsoleRole
    scope: str | None  # guard: a site id; manager: a company id; others: None
    sites: frozenset[str] | None

    def can(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]

    def may_see(self, site: str) -> bool:
        return self.sites is None or site in self.sites

    def visible(self, all_sites: list[str]) -> list[str]:
        return [s for s in all_sites if self.may_see(s)]

    def principal(self) -> Principal:
        return Principal(self.username, WORKFLOW_ROLE[self.role], self.sites)


def sites_for(
    role: ConsoleRole, scope: str | None, companies: Mapping[str, str]
) -> frozenset[str] | None:
    """The communities a user sees. ``companies``: site id -> managing company id."""
    if role in (ConsoleRole.REGULATOR, ConsoleRole.ADMIN):
        return None
    if role is ConsoleRole.GUARD:
        if scope is None or scope not in companies:
            known = ", ".join(sorted(companies))
            if scope is None:
                raise ScopeError(
                    f"保安账户须选择所在小区 / a guard account needs its community ({known})"
                )
            raise ScopeError(f"没有小区 {scope} / no community {scope} (known: {known})")
        return frozenset({scope})
    managed = frozenset(site for site, company in companies.items() if company == scope)
    if not managed:
        known = ", ".join(sorted(set(companies.values())))
        raise ScopeError(
            f"物业经理账户须选择所属企业 / a manager account needs its company ({known}),"
            f" not {scope or '—'}"
        )
    return managed
