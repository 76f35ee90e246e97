"""Pure workflow for supervision cases: violations, complaints and rectification orders.

    new --triage(solve_now | order_fix)--> assigned --rectify--> rectified --verify--> closed
     |  \\--triage(escalate)--> escalated --triage--> assigned          \\--reject--> assigned
     \\--dismiss--> dismissed              assigned --deadline passes--> overdue --rectify-->
                                          overdue --too long, or repeated--> escalated

The action plan's rectification phase: a problem found is solved on the spot, or the
company is ordered to fix it (责令整改, a rectification order with a deadline), or it is
escalated. Overdue items and problems that keep coming back escalate; the regulator's own
decision (an order, an escalation) is never overridden, and an escalated case re-triaged is
not escalated again (it is back with the one who decides). Who may do what is
checked here; the caller records every transition in the audit log. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    RECTIFIED = "rectified"
    CLOSED = "closed"
    OVERDUE = "overdue"
    ESCALATED = "escalated"
    DISMISSED = "dismissed"


class Action(StrEnum):
    TRIAGE = "triage"
    DISMISS = "dismiss"
    RECTIFY = "rectify"
    VERIFY = "verify"
    REJECT = "reject"
    MARK_OVERDUE = "mark_overdue"
    ESCALATE = "escalate"


class Decision(StrEnum):
    SOLVE_NOW = "solve_now"  # 立即解决
    ORDER_FIX = "order_fix"  # 责令整改: a rectification order with a deadline
    ESCALATE = "escalate"  # 逐级请示报告


class Role(StrEnum):
    GUARD = "guard"  # the property company's security staff
    COMPANY = "company"  # the property company's manager
    REGULATOR = "regulator"  # the county property-management authority
    ADMIN = "admin"
    SYSTEM = "system"  # the hub itself (deadline watchdog)


# What each action needs: the states it may start from, its result, and who may do it.
# Verification is independent of the company: only the regulator closes a case.
TRANSITIONS: dict[Action, tuple[frozenset[Status], frozenset[Role]]] = {
    Action.TRIAGE: (
        frozenset({Status.NEW, Status.ESCALATED}),
        frozenset({Role.REGULATOR, Role.ADMIN}),
    ),
    Action.DISMISS: (
        frozenset({Status.NEW, Status.ESCALATED}),
        frozenset({Role.REGULATOR, Role.ADMIN}),
    ),
    Action.RECTIFY: (
        frozenset({Status.ASSIGNED, Status.OVERDUE}),
        frozenset({Role.GUARD, Role.COMPANY, Role.ADMIN}),
    ),
    Action.VERIFY: (frozenset({Status.RECTIFIED}), frozenset({Role.REGULATOR, Role.ADMIN})),
    Action.REJECT: (frozenset({Status.RECTIFIED}), frozenset({Role.REGULATOR, Role.ADMIN})),
    Action.MARK_OVERDUE: (frozenset({Status.ASSIGNED}), frozenset({Role.SYSTEM, Role.ADMIN})),
    Action.ESCALATE: (
        frozenset({Status.NEW, Status.ASSIGNED, Status.OVERDUE}),
        frozenset({Role.REGULATOR, Role.ADMIN, Role.SYSTEM}),
    ),
}

OPEN_STATES = frozenset({Status.NEW, Status.ASSIGNED, Status.OVERDUE, Status.ESCALATED})


class WorkflowError(ValueError):
    """A transition that is not allowed; ``code`` is 403 for a role, 409 for a state."""

    def __init__(self, message: str, code: int = 409) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Policy:
    solve_now_hours: float = 24  # a problem to be "solved now" has one day
    order_days: float = 7  # default deadline of a rectification order
    escalate_after_overdue_days: float = 7  # overdue this long -> escalated
    repeat_threshold: int = 3  # this many earlier cases of the same kind -> an order, not a fix


@dataclass(frozen=True, slots=True)
class Case:
    """The workflow state of one violation, complaint or order."""

    status: Status = Status.NEW
    decision: Decision | None = None
    deadline: datetime | None = None
    rectified_at: datetime | None = None
    closed_at: datetime | None = None
    overdue_since: datetime | None = None
    escalations: int = 0
    verified: bool = False  # the problem was confirmed as real (triaged, not dismissed)
    note: str = ""


def allowed(action: Action, case: Case, role: Role) -> WorkflowError | None:
    sources, roles = TRANSITIONS[action]
    if role not in roles:
        return WorkflowError(f"role {role} may not {action}", code=403)
    if case.status not in sources:
        return WorkflowError(f"cannot {action} a case that is {case.status}")
    return None


def apply(
    case: Case,
    action: Action,
    role: Role,
    now: datetime,
    *,
    decision: Decision | None = None,
    deadline: datetime | None = None,
    note: str = "",
    policy: Policy = Policy(),
    repeats: int = 0,
) -> Case:
    """The case after ``action``; raises WorkflowError when not allowed.

    ``repeats``: earlier cases of the same kind at the same community, for triage.
    """
    if error := allowed(action, case, role):
        raise error
    note = note or case.note
    if action is Action.TRIAGE:
        decision = effective_decision(
            decision, repeats, policy, already_escalated=case.status is Status.ESCALATED
        )
        if decision is Decision.ESCALATE:
            return replace(
                case,
                status=Status.ESCALATED,
                decision=decision,
                escalations=case.escalations + 1,
                verified=True,
                note=note,
            )
        if deadline is None:
            deadline = default_deadline(decision, now, policy)
        if deadline <= now:
            raise WorkflowError("the deadline must be in the future")
        return replace(
            case,
            status=Status.ASSIGNED,
            decision=decision,
            deadline=deadline,
            verified=True,
            note=note,
        )
    if action is Action.DISMISS:
        return replace(case, status=Status.DISMISSED, closed_at=now, verified=False, note=note)
    if action is Action.RECTIFY:
        return replace(case, status=Status.RECTIFIED, rectified_at=now, note=note)
    if action is Action.VERIFY:
        return replace(case, status=Status.CLOSED, closed_at=now, note=note)
    if action is Action.REJECT:
        # rework: back to the company, and overdue at once if its deadline has passed
        late = case.deadline is not None and now > case.deadline
        return replace(
            case,
            status=Status.OVERDUE if late else Status.ASSIGNED,
            rectified_at=None,
            overdue_since=(case.overdue_since or case.deadline) if late else case.overdue_since,
            note=note,
        )
    if action is Action.MARK_OVERDUE:
        return replace(case, status=Status.OVERDUE, overdue_since=case.deadline or now, note=note)
    # ESCALATE
    return replace(
        case, status=Status.ESCALATED, escalations=case.escalations + 1, verified=True, note=note
    )


def effective_decision(
    decision: Decision | None, repeats: int, policy: Policy, *, already_escalated: bool = False
) -> Decision:
    """The decision a triage takes effect with.

    The regulator's explicit order (责令整改) or escalation is always honoured: whatever the
    case's type or how often it came back, an order makes a case the company can rectify.
    Repeats only make "solve now" stricter: at ``repeat_threshold`` earlier cases it becomes
    an order, and at twice the threshold an escalation - unless the case was escalated
    already: it is back with the one who decides, and escalating it again would loop.
    """
    if decision is None:
        raise WorkflowError("triage needs a decision: solve_now, order_fix or escalate", 422)
    if decision is Decision.ESCALATE and already_escalated:
        raise WorkflowError("already escalated: solve now, order a fix or dismiss")
    if decision is not Decision.SOLVE_NOW:
        return decision
    if repeats >= 2 * policy.repeat_threshold and not already_escalated:
        return Decision.ESCALATE
    if repeats >= policy.repeat_threshold:
        return Decision.ORDER_FIX
    return decision


def default_deadline(decision: Decision, now: datetime, policy: Policy) -> datetime:
    if decision is Decision.SOLVE_NOW:
        return now + timedelta(hours=policy.solve_now_hours)
    return now + timedelta(days=policy.order_days)


def due_action(case: Case, now: datetime, policy: Policy = Policy()) -> Action | None:
    """What the deadline watchdog must do to a case now: mark it overdue or escalate it."""
    if case.status is Status.ASSIGNED and case.deadline is not None and now > case.deadline:
        return Action.MARK_OVERDUE
    if case.status is Status.OVERDUE:
        since = case.overdue_since or case.deadline
        if since is not None and now - since > timedelta(days=policy.escalate_after_overdue_days):
            return Action.ESCALATE
    return None
