"""Keypad lock-out (pure): five wrong PINs lock it, locks double up to the cap, a right PIN
or a quiet hour clears it."""

from __future__ import annotations

from edge.pedestrian_gate.keypad import KeypadLock, KeypadPolicy, Lockout


def test_five_failures_lock_for_30_s_then_it_takes_pins_again() -> None:
    lock = KeypadLock()
    assert [lock.failed(t) for t in range(4)] == [None] * 4
    assert lock.wait_s(4) == 0
    assert lock.failed(4) == Lockout(30.0, 5)
    assert lock.wait_s(5) == 29.0
    assert lock.wait_s(34) == 0


def test_each_further_lock_doubles_up_to_the_cap() -> None:
    lock = KeypadLock(KeypadPolicy(free_failures=2, lock_s=30, max_lock_s=100))
    t, seconds = 0.0, []
    for _ in range(5):
        while (started := lock.failed(t)) is None:
            t += 1
        seconds.append(started.seconds)
        t += started.seconds  # wait the lock out, guess again
    assert seconds == [30, 60, 100, 100, 100]


def test_a_right_pin_clears_the_count() -> None:
    lock = KeypadLock()
    for t in range(4):
        lock.failed(t)
    lock.succeeded()
    assert [lock.failed(10 + t) for t in range(4)] == [None] * 4


def test_a_quiet_hour_forgets_old_failures() -> None:
    lock = KeypadLock()
    for t in range(4):
        lock.failed(t)
    assert lock.failed(4 + 3601) is None  # counted from one again
    assert lock.failures == 1 and lock.locks == 0
