"""Pure decisions of a pedestrian gate: face, QR pass, PIN or card; unknown-attempt
violations; door held / forced alarms. No I/O, no clocks: callers pass ``now``."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from edge.interfaces import CardAttempt, PinAttempt, QrAttempt
from models.face_bundle import BLACKLIST, RESIDENT
from models.messages import AlarmType, Credential, Decision, DecisionReason
from models.passes import PassStatus, pin_digest, unit_pin, verify_pass

UNKNOWN_SUBJECT = "unknown"


@dataclass(frozen=True, slots=True)
class PedestrianSettings:
    """Rules of a pedestrian gate beyond matching."""

    unknown_attempts: int = 3  # this many refused attempts ...
    unknown_window_s: float = 60.0  # ... within this window -> violation
    # The door may open this long after the lock closes again (how long it may stay open is
    # the site config's door.held_open_s).
    door_grace_s: float = 2.0
    require_liveness: bool = True


@dataclass(frozen=True, slots=True)
class FaceAttempt:
    """A matched face: ``person``/``role`` None when unknown; ``live`` None if not checked."""

    person: str | None
    role: str | None
    distance: float
    live: bool | None


Attempt = FaceAttempt | QrAttempt | PinAttempt | CardAttempt


@dataclass(frozen=True, slots=True)
class GateDirectory:
    """What a pedestrian gate knows offline, from the hub's last sync.

    ``roles``: person id -> resident | blacklist. ``cards``: card id -> person id.
    ``pins``: ``pin_digest(key, pin)`` -> person id. ``key``: the site's pass/PIN key.
    """

    site: str
    key: bytes
    roles: Mapping[str, str] = field(default_factory=dict)
    cards: Mapping[str, str] = field(default_factory=dict)
    pins: Mapping[str, str] = field(default_factory=dict)
    revoked_passes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PedestrianDecision:
    decision: Decision
    reason: DecisionReason
    credential: Credential
    subject: str  # person id, pass id, or "unknown"
    alarm: AlarmType | None = None
    suspicious: bool = False  # counts towards the repeated-unknown-attempts violation

    @property
    def opens(self) -> bool:
        return self.decision is Decision.OPEN


def _refuse(
    credential: Credential,
    reason: DecisionReason,
    subject: str,
    *,
    suspicious: bool = False,
    alarm: AlarmType | None = None,
) -> PedestrianDecision:
    return PedestrianDecision(
        Decision.REFUSE, reason, credential, subject, alarm=alarm, suspicious=suspicious
    )


def _by_person(
    credential: Credential, person: str | None, roles: Mapping[str, str]
) -> PedestrianDecision:
    """Decision for a card or PIN that names a person."""
    role = roles.get(person) if person else None
    if person is None or role is None:
        return _refuse(credential, DecisionReason.UNKNOWN, UNKNOWN_SUBJECT, suspicious=True)
    if role == BLACKLIST:
        return _refuse(credential, DecisionReason.BLACKLISTED, person, alarm=AlarmType.BLACKLIST)
    return PedestrianDecision(Decision.OPEN, DecisionReason.RESIDENT, credential, person)


_PASS_REASONS = {
    PassStatus.EXPIRED: DecisionReason.PASS_EXPIRED,
    PassStatus.NOT_YET_VALID: DecisionReason.PASS_NOT_YET_VALID,
}


def decide_pedestrian(
    attempt: Attempt,
    directory: GateDirectory,
    *,
    now: datetime,
    settings: PedestrianSettings | None = None,
) -> PedestrianDecision:
    """Open or refuse one attempt at a pedestrian gate, and say whether to raise an alarm.

    Face: a blacklisted person is refused with an alarm even if liveness failed (someone
    tried); a resident opens only when live (if liveness is required); unknown faces are
    refused. QR: a signed pass for this site inside its validity window opens. PIN and
    card: the person they belong to decides, like a face.
    """
    settings = settings or PedestrianSettings()
    match attempt:
        case FaceAttempt(person=person, role=role, live=live):
            if person is None:
                return _refuse(
                    Credential.FACE, DecisionReason.UNKNOWN, UNKNOWN_SUBJECT, suspicious=True
                )
            if role == BLACKLIST:
                return _refuse(
                    Credential.FACE, DecisionReason.BLACKLISTED, person, alarm=AlarmType.BLACKLIST
                )
            if role != RESIDENT:
                return _refuse(Credential.FACE, DecisionReason.UNKNOWN, person, suspicious=True)
            if settings.require_liveness and live is not True:
                return _refuse(Credential.FACE, DecisionReason.NOT_LIVE, person, suspicious=True)
            return PedestrianDecision(
                Decision.OPEN, DecisionReason.RESIDENT, Credential.FACE, person
            )
        case QrAttempt(token=token):
            check = verify_pass(
                directory.key, token, site=directory.site, now=now, revoked=directory.revoked_passes
            )
            subject = check.pass_id or UNKNOWN_SUBJECT
            if check.ok:
                return PedestrianDecision(
                    Decision.OPEN, DecisionReason.VISITOR_PASS, Credential.QR, subject
                )
            if check.status in _PASS_REASONS:
                return _refuse(Credential.QR, _PASS_REASONS[check.status], subject)
            # Forged, foreign, revoked or garbled passes are attempts to get in.
            return _refuse(Credential.QR, DecisionReason.UNKNOWN, subject, suspicious=True)
        case PinAttempt(unit=unit, pin=pin):
            person = directory.pins.get(pin_digest(directory.key, unit_pin(unit, pin)))
            return _by_person(Credential.PIN, person, directory.roles)
        case CardAttempt(card_id=card_id):
            return _by_person(Credential.CARD, directory.cards.get(card_id), directory.roles)
    raise TypeError(f"not a pedestrian attempt: {attempt!r}")


class UnknownAttemptTracker:
    """``attempts`` suspicious attempts at one gate within ``window_s`` -> one violation.

    After reporting a violation the count starts again, so a persistent intruder yields
    one violation per ``attempts`` tries rather than one per try.
    """

    def __init__(self, attempts: int = 3, window_s: float = 60.0) -> None:
        if attempts < 1 or window_s <= 0:
            raise ValueError("attempts must be >= 1 and window_s > 0")
        self.attempts = attempts
        self.window_s = window_s
        self._times: deque[float] = deque()

    @classmethod
    def from_settings(cls, settings: PedestrianSettings) -> UnknownAttemptTracker:
        return cls(settings.unknown_attempts, settings.unknown_window_s)

    def record(self, now: float) -> bool:
        """Record one suspicious attempt at time ``now`` (seconds); True = violation."""
        self._times.append(now)
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        if len(self._times) >= self.attempts:
            self._times.clear()
            return True
        return False

    def pending(self, now: float) -> int:
        return sum(1 for t in self._times if now - t <= self.window_s)


class DoorMonitor:
    """Door contact state machine: forced (opened while locked) and held (open too long).

    ``lock(unlocked, now)`` with the lock's state, ``door(is_open, now)`` with the contact's,
    and ``tick(now)``, all as often as they are polled. The last two return the alarms to
    raise. Any opening is authorised while the lock is released; after it locks again, one
    more opening within ``grace_s`` is (a slow walker).
    """

    def __init__(self, held_s: float = 15.0, grace_s: float = 2.0) -> None:
        self.held_s, self.grace_s = held_s, grace_s
        self._released_until: float | None = None
        self._opened_at: float | None = None
        self._held_reported = False

    def lock(self, unlocked: bool, now: float) -> None:
        if unlocked:
            self._released_until = now + self.grace_s

    def door(self, is_open: bool, now: float) -> list[AlarmType]:
        if is_open and self._opened_at is None:
            self._opened_at, self._held_reported = now, False
            authorised = self._released_until is not None and now <= self._released_until
            self._released_until = None  # one release lets one opening through
            return [] if authorised else [AlarmType.DOOR_FORCED]
        if not is_open:
            self._opened_at = None
        return []

    def tick(self, now: float) -> list[AlarmType]:
        opened = self._opened_at
        if opened is not None and not self._held_reported and now - opened > self.held_s:
            self._held_reported = True
            return [AlarmType.DOOR_HELD]
        return []
