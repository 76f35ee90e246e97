"""Presence sources for gates without a simulated loop."""

from __future__ import annotations


class AlwaysPresent:
    """No loop detector wired: recognise continuously (costs CPU at the camera's frame rate).

    The vehicle pipeline then ends a visit some seconds after its last decision, so a car that
    stays in view is re-read now and then rather than once.
    """

    # Not a real detector: the barrier must not be held open on its word.
    is_vehicle_detector = False

    def present(self) -> bool:
        return True
