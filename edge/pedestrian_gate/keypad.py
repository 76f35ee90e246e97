"""Keypad lock-out, pure: after a few wrong unit + PIN entries at one keypad it stops trying
PINs for a while, doubling the wait with each further lock (the caller supplies the time).

    lock = KeypadLock()
    if lock.wait_s(now) > 0: refuse without looking the PIN up
    started = lock.failed(now)   # a Lockout when this failure starts a lock: raise an alarm
    lock.succeeded()             # a right PIN clears the count

One lock per keypad, not per unit: guessing across many units is what it stops. A 6-digit
PIN has 10^6 values; with 5 tries then 30 s doubling to 15 min, a guesser gets about 500
tries a day at one keypad.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeypadPolicy:
    free_failures: int = 5  # wrong entries allowed before the first lock
    lock_s: float = 30.0  # the first lock; each further one doubles it
    max_lock_s: float = 900.0
    forget_after_s: float = 3600.0  # a quiet hour clears the failures and the doubling


@dataclass(frozen=True, slots=True)
class Lockout:
    """A lock that just began: for the alarm."""

    seconds: float
    failures: int  # wrong entries since the count was last cleared


class KeypadLock:
    def __init__(self, policy: KeypadPolicy | None = None) -> None:
        self.policy = policy or KeypadPolicy()
        self.failures = 0
        self.locks = 0
        self.locked_until: float | None = None
        self._last_failure: float | None = None

    def wait_s(self, now: float) -> float:
        """Seconds until the keypad takes a PIN again (0: now)."""
        if self.locked_until is None or now >= self.locked_until:
            return 0.0
        return self.locked_until - now

    def failed(self, now: float) -> Lockout | None:
        policy = self.policy
        if self._last_failure is not None and now - self._last_failure > policy.forget_after_s:
            self.failures = self.locks = 0
        self._last_failure = now
        self.failures += 1
        if self.failures < policy.free_failures * (self.locks + 1):
            # after a lock, each further `free_failures` wrong entries lock it again
            return None
        seconds = min(policy.lock_s * 2**self.locks, policy.max_lock_s)
        self.locks += 1
        self.locked_until = now + seconds
        return Lockout(seconds, self.failures)

    def succeeded(self) -> None:
        self.failures = self.locks = 0
        self.locked_until = self._last_failure = None
