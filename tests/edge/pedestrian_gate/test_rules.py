"""Pedestrian gate decisions, signed QR passes, unknown-attempt violations, door alarms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.interfaces import CardAttempt, PinAttempt, QrAttempt
from edge.pedestrian_gate.rules import (
    DoorMonitor,
    FaceAttempt,
    GateDirectory,
    PedestrianSettings,
    UnknownAttemptTracker,
    decide_pedestrian,
)
from models.messages import AlarmType, Credential, Decision, DecisionReason
from models.passes import PassStatus, issue_pass, pin_digest, unit_pin, verify_pass

KEY = b"k" * 32
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DIRECTORY = GateDirectory(
    site="lakeside",
    key=KEY,
    roles={"r1": "resident", "b1": "blacklist"},
    cards={"CARD-0001": "r1", "CARD-0666": "b1"},
    pins={pin_digest(KEY, unit_pin("3-201", "482913")): "r1"},
    revoked_passes=frozenset({"V-REVOKED"}),
)


def qr(pass_id="V-1", site="lakeside", start=-1, end=2, key=KEY) -> QrAttempt:
    return QrAttempt(
        issue_pass(
            key,
            site=site,
            pass_id=pass_id,
            valid_from=NOW + timedelta(hours=start),
            valid_until=NOW + timedelta(hours=end),
        )
    )


def decide(attempt, **kw):
    return decide_pedestrian(attempt, DIRECTORY, now=NOW, **kw)


def test_live_resident_face_opens():
    d = decide(FaceAttempt("r1", "resident", 0.31, live=True))
    assert (d.decision, d.reason, d.credential, d.subject) == (
        Decision.OPEN,
        DecisionReason.RESIDENT,
        Credential.FACE,
        "r1",
    )
    assert d.alarm is None and not d.suspicious


def test_resident_face_that_is_not_live_is_refused():
    d = decide(FaceAttempt("r1", "resident", 0.31, live=False))
    assert d.decision is Decision.REFUSE and d.reason is DecisionReason.NOT_LIVE
    assert d.suspicious
    unchecked = decide(FaceAttempt("r1", "resident", 0.31, live=None))
    assert unchecked.reason is DecisionReason.NOT_LIVE
    relaxed = decide(
        FaceAttempt("r1", "resident", 0.31, live=None),
        settings=PedestrianSettings(require_liveness=False),
    )
    assert relaxed.opens


def test_blacklisted_face_refused_with_alarm_even_if_not_live():
    for live in (True, False):
        d = decide(FaceAttempt("b1", "blacklist", 0.2, live=live))
        assert d.decision is Decision.REFUSE and d.reason is DecisionReason.BLACKLISTED
        assert d.alarm is AlarmType.BLACKLIST and d.subject == "b1"


def test_unknown_face_refused_and_suspicious():
    d = decide(FaceAttempt(None, None, 0.8, live=True))
    assert d.decision is Decision.REFUSE and d.reason is DecisionReason.UNKNOWN
    assert d.subject == "unknown" and d.suspicious and d.alarm is None


def test_valid_qr_pass_opens_and_window_is_enforced():
    d = decide(qr())
    assert d.opens and d.reason is DecisionReason.VISITOR_PASS and d.subject == "V-1"
    assert decide(qr(start=-5, end=-1)).reason is DecisionReason.PASS_EXPIRED
    assert decide(qr(start=1, end=3)).reason is DecisionReason.PASS_NOT_YET_VALID
    assert not decide(qr(start=-5, end=-1)).suspicious


@pytest.mark.parametrize(
    ("attempt", "status"),
    [
        (qr(key=b"x" * 32), PassStatus.BAD_SIGNATURE),
        (qr(site="other-site"), PassStatus.WRONG_SITE),
        (qr(pass_id="V-REVOKED"), PassStatus.REVOKED),
        (QrAttempt("hello"), PassStatus.MALFORMED),
    ],
)
def test_forged_foreign_revoked_or_garbled_passes_refused(attempt, status):
    check = verify_pass(
        KEY, attempt.token, site="lakeside", now=NOW, revoked=frozenset({"V-REVOKED"})
    )
    assert check.status is status
    d = decide(attempt)
    assert d.decision is Decision.REFUSE and d.reason is DecisionReason.UNKNOWN and d.suspicious


def test_tampered_expiry_breaks_the_signature():
    token = qr().token
    parts = token.split(":")
    parts[4] = str(int(parts[4]) + 86400 * 30)  # push the expiry a month later
    assert (
        verify_pass(KEY, ":".join(parts), site="lakeside", now=NOW).status
        is PassStatus.BAD_SIGNATURE
    )


def test_issue_pass_rejects_bad_input():
    with pytest.raises(ValueError):
        issue_pass(KEY, site="a:b", pass_id="V", valid_from=NOW, valid_until=NOW + timedelta(1))
    with pytest.raises(ValueError):
        issue_pass(KEY, site="s", pass_id="V", valid_from=NOW, valid_until=NOW)


def test_pin_and_card():
    assert decide(PinAttempt("3-201", "482913")).opens
    assert decide(PinAttempt("3-201", "482913")).credential is Credential.PIN
    assert decide(PinAttempt(" 3-201 ", "482913")).opens  # as unit_pin writes it
    wrong = decide(PinAttempt("3-201", "000000"))
    assert wrong.reason is DecisionReason.UNKNOWN and wrong.suspicious
    # the PIN alone, or with another unit, names nobody
    assert not decide(PinAttempt("3-202", "482913")).opens
    assert not decide(PinAttempt("", "482913")).opens
    card = decide(CardAttempt("CARD-0001"))
    assert card.opens and card.subject == "r1" and card.credential is Credential.CARD
    banned = decide(CardAttempt("CARD-0666"))
    assert banned.reason is DecisionReason.BLACKLISTED and banned.alarm is AlarmType.BLACKLIST
    assert decide(CardAttempt("CARD-9999")).reason is DecisionReason.UNKNOWN
    assert "482913" not in repr(DIRECTORY.pins)  # PINs are kept only as keyed digests


def test_unknown_attempts_in_window_make_one_violation():
    tracker = UnknownAttemptTracker(attempts=3, window_s=60)
    assert not tracker.record(0)
    assert not tracker.record(30)
    assert tracker.record(50)  # third within 60 s
    assert not tracker.record(55)  # counting starts again after a violation
    tracker = UnknownAttemptTracker(attempts=3, window_s=60)
    assert not tracker.record(0)
    assert not tracker.record(40)
    assert not tracker.record(95)  # the first has left the window
    assert tracker.pending(95) == 2
    assert tracker.record(96)


def test_trackers_take_their_numbers_from_settings():
    settings = PedestrianSettings(unknown_attempts=2, unknown_window_s=10)
    tracker = UnknownAttemptTracker.from_settings(settings)
    assert not tracker.record(0) and tracker.record(9)


def test_door_forced_and_held():
    door = DoorMonitor(held_s=15, grace_s=2)
    door.lock(False, 0)
    assert door.door(True, 0) == [AlarmType.DOOR_FORCED]  # opened while locked
    assert door.door(False, 3) == []
    door.lock(True, 10)  # unlocked: a decision or a remote open
    assert door.door(True, 12) == []  # authorised opening
    door.lock(False, 13)
    assert door.tick(20) == []
    assert door.tick(28) == [AlarmType.DOOR_HELD]
    assert door.tick(40) == []  # reported once per opening
    door.door(False, 41)
    assert door.door(True, 42) == [AlarmType.DOOR_FORCED]  # the release was used up


def test_door_may_open_until_the_grace_after_locking():
    door = DoorMonitor(held_s=15, grace_s=2)
    for t in range(50, 59):  # polled while the lock stays released, last seen so at 58
        door.lock(True, t)
    door.lock(False, 59)
    assert door.door(True, 59.8) == []  # a slow walker, within 2 s of the lock closing
    door.door(False, 62)
    door.lock(True, 70)
    door.lock(False, 71)
    assert door.door(True, 73.5) == [AlarmType.DOOR_FORCED]  # grace over
