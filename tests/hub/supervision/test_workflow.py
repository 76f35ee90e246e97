"""The pure case workflow: transitions, roles, deadlines, overdue and escalation."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.supervision.periods import TZ
from hub.supervision.workflow import (
    Action,
    Case,
    Decision,
    Policy,
    Role,
    Status,
    WorkflowError,
    apply,
    due_action,
)

NOW = datetime(2026, 9, 1, 10, 0, tzinfo=TZ)


def test_full_path_new_to_closed() -> None:
    case = apply(Case(), Action.TRIAGE, Role.REGULATOR, NOW, decision=Decision.ORDER_FIX)
    assert case.status is Status.ASSIGNED and case.verified
    assert case.deadline == NOW + timedelta(days=7)
    case = apply(case, Action.RECTIFY, Role.COMPANY, NOW + timedelta(days=2), note="fixed")
    assert case.status is Status.RECTIFIED and case.rectified_at == NOW + timedelta(days=2)
    case = apply(case, Action.VERIFY, Role.REGULATOR, NOW + timedelta(days=3))
    assert case.status is Status.CLOSED and case.closed_at == NOW + timedelta(days=3)


@pytest.mark.parametrize(
    ("action", "role", "code"),
    [
        (Action.TRIAGE, Role.COMPANY, 403),  # the company cannot triage its own problems
        (Action.TRIAGE, Role.GUARD, 403),
        (Action.VERIFY, Role.REGULATOR, 409),  # nothing rectified yet
        (Action.RECTIFY, Role.COMPANY, 409),  # not assigned yet
        (Action.MARK_OVERDUE, Role.REGULATOR, 403),
    ],
)
def test_not_allowed(action: Action, role: Role, code: int) -> None:
    with pytest.raises(WorkflowError) as err:
        apply(Case(), action, role, NOW, decision=Decision.SOLVE_NOW)
    assert err.value.code == code


def test_company_cannot_verify_its_own_fix() -> None:
    case = Case(status=Status.RECTIFIED)
    with pytest.raises(WorkflowError) as err:
        apply(case, Action.VERIFY, Role.COMPANY, NOW)
    assert err.value.code == 403


def test_deadline_passes_then_overdue_then_escalated() -> None:
    policy = Policy(escalate_after_overdue_days=7)
    case = apply(Case(), Action.TRIAGE, Role.REGULATOR, NOW, decision=Decision.SOLVE_NOW)
    assert case.deadline == NOW + timedelta(hours=24)
    assert due_action(case, NOW + timedelta(hours=23), policy) is None
    later = NOW + timedelta(hours=25)
    assert due_action(case, later, policy) is Action.MARK_OVERDUE
    case = apply(case, Action.MARK_OVERDUE, Role.SYSTEM, later)
    assert case.status is Status.OVERDUE and case.overdue_since == case.deadline
    assert due_action(case, NOW + timedelta(days=7), policy) is None
    assert due_action(case, NOW + timedelta(days=8, hours=1), policy) is Action.ESCALATE
    case = apply(case, Action.ESCALATE, Role.SYSTEM, NOW + timedelta(days=9))
    assert case.status is Status.ESCALATED and case.escalations == 1
    # an escalated case is triaged again by the regulator
    case = apply(
        case,
        Action.TRIAGE,
        Role.REGULATOR,
        NOW + timedelta(days=9),
        decision=Decision.ORDER_FIX,
        deadline=NOW + timedelta(days=12),
    )
    assert case.status is Status.ASSIGNED and case.deadline == NOW + timedelta(days=12)


def test_rejected_fix_after_deadline_is_overdue_at_once() -> None:
    case = Case(status=Status.RECTIFIED, deadline=NOW, rectified_at=NOW - timedelta(hours=1))
    case = apply(case, Action.REJECT, Role.REGULATOR, NOW + timedelta(hours=3))
    assert case.status is Status.OVERDUE and case.rectified_at is None


def test_repeated_problems_get_orders_then_escalate() -> None:
    policy = Policy(repeat_threshold=3)
    fix = apply(
        Case(),
        Action.TRIAGE,
        Role.REGULATOR,
        NOW,
        decision=Decision.SOLVE_NOW,
        repeats=3,
        policy=policy,
    )
    assert fix.decision is Decision.ORDER_FIX and fix.deadline == NOW + timedelta(days=7)
    esc = apply(
        Case(),
        Action.TRIAGE,
        Role.REGULATOR,
        NOW,
        decision=Decision.SOLVE_NOW,
        repeats=6,
        policy=policy,
    )
    assert esc.status is Status.ESCALATED


def test_dismissed_complaint_is_not_verified_and_past_deadline_rejected() -> None:
    case = apply(Case(), Action.DISMISS, Role.REGULATOR, NOW, note="unfounded")
    assert case.status is Status.DISMISSED and not case.verified
    with pytest.raises(WorkflowError, match="future"):
        apply(Case(), Action.TRIAGE, Role.ADMIN, NOW, decision=Decision.ORDER_FIX, deadline=NOW)


STEPS = st.lists(
    st.tuples(
        st.sampled_from(list(Action)),
        st.sampled_from(list(Role)),
        st.sampled_from([None, *Decision]),
        st.integers(1, 400),  # hours after the previous step
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(STEPS)
def test_random_steps_keep_the_workflow_honest(steps) -> None:
    """Whatever anyone tries: the company never closes, dismisses or triages its own case;
    only a real transition changes the case; a closed case was rectified first."""
    case, now = Case(), NOW
    for action, role, decision, hours in steps:
        now += timedelta(hours=hours)
        try:
            after = apply(case, action, role, now, decision=decision)
        except WorkflowError:
            continue
        if role in (Role.COMPANY, Role.GUARD):
            assert action is Action.RECTIFY and after.status is Status.RECTIFIED
        if after.status is Status.CLOSED:
            assert case.status is Status.RECTIFIED and role in (Role.REGULATOR, Role.ADMIN)
        if after.status is Status.ASSIGNED:
            assert after.deadline is not None and after.verified
        if after.status is Status.OVERDUE:
            assert after.overdue_since is not None
        assert after.escalations >= case.escalations
        case = after


# Issue 17: a regulator's order (责令整改) on a case that keeps coming back (an unknown
# vehicle seen 13 times, a door held open every night) silently became an escalation, and
# re-triaging it escalated it again: the company could never rectify it.
REPEATS = [0, 2, 3, 5, 6, 13]


@pytest.mark.parametrize("start", [Status.NEW, Status.ESCALATED])
@pytest.mark.parametrize("repeats", REPEATS)
@pytest.mark.parametrize("decision", list(Decision))
def test_triage_honours_the_regulators_decision(
    start: Status, repeats: int, decision: Decision
) -> None:
    policy = Policy(repeat_threshold=3)
    case = Case(status=start, escalations=int(start is Status.ESCALATED))
    if decision is Decision.ESCALATE and start is Status.ESCALATED:
        with pytest.raises(WorkflowError, match="already escalated"):
            apply(case, Action.TRIAGE, Role.REGULATOR, NOW, decision=decision, repeats=repeats)
        return
    after = apply(
        case, Action.TRIAGE, Role.REGULATOR, NOW, decision=decision, repeats=repeats, policy=policy
    )
    if decision is Decision.ORDER_FIX:
        # an order is an order, however often the problem came back
        assert after.status is Status.ASSIGNED and after.decision is Decision.ORDER_FIX
        assert after.deadline == NOW + timedelta(days=7)
    elif decision is Decision.ESCALATE:
        assert after.status is Status.ESCALATED and after.escalations == case.escalations + 1
    elif repeats >= 6 and start is Status.NEW:
        assert after.status is Status.ESCALATED  # "solve now" on a chronic problem goes up
    elif repeats >= 3:
        assert after.status is Status.ASSIGNED and after.decision is Decision.ORDER_FIX
    else:
        assert after.status is Status.ASSIGNED and after.decision is Decision.SOLVE_NOW
        assert after.deadline == NOW + timedelta(hours=24)
    # re-triaging an escalated case never escalates it again on its own
    if start is Status.ESCALATED:
        assert after.status is Status.ASSIGNED


@pytest.mark.parametrize("repeats", REPEATS)
def test_ordered_chronic_case_is_rectified_and_verified(repeats: int) -> None:
    case = apply(
        Case(), Action.TRIAGE, Role.REGULATOR, NOW, decision=Decision.ORDER_FIX, repeats=repeats
    )
    case = apply(case, Action.RECTIFY, Role.COMPANY, NOW + timedelta(days=1), note="装好闭门器")
    assert case.status is Status.RECTIFIED
    case = apply(case, Action.VERIFY, Role.REGULATOR, NOW + timedelta(days=2))
    assert case.status is Status.CLOSED and case.verified


# Every action from every state, by the role allowed to take it: the result, or a 409.
RESULT = {
    Action.TRIAGE: {Status.NEW: Status.ASSIGNED, Status.ESCALATED: Status.ASSIGNED},
    Action.DISMISS: {Status.NEW: Status.DISMISSED, Status.ESCALATED: Status.DISMISSED},
    Action.RECTIFY: {Status.ASSIGNED: Status.RECTIFIED, Status.OVERDUE: Status.RECTIFIED},
    Action.VERIFY: {Status.RECTIFIED: Status.CLOSED},
    Action.REJECT: {Status.RECTIFIED: Status.ASSIGNED},
    Action.MARK_OVERDUE: {Status.ASSIGNED: Status.OVERDUE},
    Action.ESCALATE: {
        Status.NEW: Status.ESCALATED,
        Status.ASSIGNED: Status.ESCALATED,
        Status.OVERDUE: Status.ESCALATED,
    },
}
ACTOR = {
    Action.TRIAGE: Role.REGULATOR,
    Action.DISMISS: Role.REGULATOR,
    Action.RECTIFY: Role.COMPANY,
    Action.VERIFY: Role.REGULATOR,
    Action.REJECT: Role.REGULATOR,
    Action.MARK_OVERDUE: Role.SYSTEM,
    Action.ESCALATE: Role.SYSTEM,
}


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", list(Action))
def test_every_state_and_action(status: Status, action: Action) -> None:
    case = Case(status=status, deadline=NOW + timedelta(days=1))
    expected = RESULT[action].get(status)
    if expected is None:
        with pytest.raises(WorkflowError) as err:
            apply(case, action, ACTOR[action], NOW, decision=Decision.ORDER_FIX)
        assert err.value.code == 409
        return
    after = apply(case, action, ACTOR[action], NOW, decision=Decision.ORDER_FIX)
    assert after.status is expected
