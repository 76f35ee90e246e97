"""Login throttling, pure: who may try a password now, from the failures so far.

Three limits, so that nobody can lock someone else out:

- one client guessing one account: after ``PAIR`` failures within the window that pair is
  locked for a while (the owner at another desk still gets in);
- one client guessing many accounts: after ``CLIENT`` failures that client is locked;
- one account guessed from many clients: no lock, a back-off: after ``ACCOUNT`` failures the
  account takes one attempt per delay, the delay doubling with each further failure up to a
  cap. The owner waits at most that long; a distributed guesser gets a handful of tries an hour.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)  # failures older than this are forgotten
    lock_for: timedelta = timedelta(minutes=15)  # counted from the failure that locked it


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    after: int = 10  # failures within the window before attempts are spaced out
    window: timedelta = timedelta(minutes=15)
    first_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=5)


PAIR = LockoutPolicy(max_failures=5)  # one client, one account
CLIENT = LockoutPolicy(max_failures=20)  # one client, any accounts
ACCOUNT = BackoffPolicy()  # one account, any clients


def locked_until(
    failures: Iterable[datetime], now: datetime, policy: LockoutPolicy = PAIR
) -> datetime | None:
    """When the lock ends, or None when logging in is allowed now.

    ``failures``: times of failed attempts (since the last successful login). Locked when
    ``max_failures`` of them fall within ``window`` of each other, until ``lock_for`` after
    the last of those.
    """
    times = sorted(failures)
    n = policy.max_failures
    for i in range(len(times) - n, -1, -1):  # newest qualifying run first
        first, last = times[i], times[i + n - 1]
        if last - first <= policy.window:
            until = last + policy.lock_for
            return until if until > now else None
    return None


def backoff_until(
    failures: Iterable[datetime], now: datetime, policy: BackoffPolicy = ACCOUNT
) -> datetime | None:
    """When the account takes its next attempt, or None when it takes one now."""
    recent = sorted(t for t in failures if now - t <= policy.window)
    excess = len(recent) - policy.after
    if excess < 0:
        return None
    delay = min(policy.first_delay * (2 ** min(excess, 30)), policy.max_delay)
    until = recent[-1] + delay
    return until if until > now else None


def latest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None
