"""Login lock-out, pure: too many failures within a window lock the account for a while."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)  # failures older than this are forgotten
    lock_for: timedelta = timedelta(minutes=15)  # counted from the failure that locked it


def locked_until(
    failures: Iterable[datetime], now: datetime, policy: LockoutPolicy = LockoutPolicy()
) -> datetime | None:
    """When the lock ends, or None when logging in is allowed now.

    ``failures``: times of failed attempts since the last successful login. The account
    is locked when ``max_failures`` of them fall within ``window`` of each other, until
    ``lock_for`` after the last of those.
    """
    times = sorted(failures)
    n = policy.max_failures
    for i in range(len(times) - n, -1, -1):  # newest qualifying run first
        first, last = times[i], times[i + n - 1]
        if last - first <= policy.window:
            until = last + policy.lock_for
            return until if until > now else None
    return None
