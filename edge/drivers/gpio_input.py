"""Digital inputs on Linux GPIO lines through sysfs: a pedestrian gate's door contact and a
vehicle gate's inductive loop detector.

Same conventions as ``gpio_relay.py`` (``pin`` is the offset on the SoC's GPIO chip, the
sysfs base is read from the chip). Not exercised on real hardware here; the unit test runs it
against a directory tree shaped like sysfs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.drivers.gpio_relay import SYSFS_GPIO, export_line


class SysfsGpioInput:
    """``active``: the line reads ``active_level`` (1 or 0, as the device is wired)."""

    def __init__(
        self,
        pin: int,
        *,
        active_level: int = 1,
        root: Path = SYSFS_GPIO,
        base: int | None = None,
        export_wait_s: float = 1.0,
    ) -> None:
        if active_level not in (0, 1):
            raise ValueError(f"active level must be 0 or 1, not {active_level!r}")
        self.active_level = active_level
        self.number, self.line = export_line(pin, root, base, export_wait_s)
        (self.line / "direction").write_text("in")

    def active(self) -> bool:
        return int((self.line / "value").read_text().strip() or "0") == self.active_level


class SysfsGpioDoorContact(SysfsGpioInput):
    """``is_open``: the line reads ``open_level`` (1 for a contact that opens the circuit to
    a pulled-up input when the door opens, 0 for one wired the other way)."""

    def __init__(self, pin: int, *, open_level: int = 1, **kwargs: Any) -> None:
        super().__init__(pin, active_level=open_level, **kwargs)

    def is_open(self) -> bool:
        return self.active()


class SysfsGpioLoopDetector(SysfsGpioInput):
    """A loop detector's relay output: a vehicle is over the loop while the line is active.
    A real detector, so the barrier is held open while it reports a vehicle."""

    is_vehicle_detector = True

    def present(self) -> bool:
        return self.active()
