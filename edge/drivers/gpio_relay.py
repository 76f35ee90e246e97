"""Barrier relay on a Linux GPIO line through sysfs (``/sys/class/gpio``).

Kept deliberately small: export the line, make it an output, write 1/0. ``pin`` is the line
offset on the SoC's main GPIO chip (BCM number on a Raspberry Pi); on kernels that number sysfs
GPIOs from a non-zero chip base (Pi OS with 6.6+ kernels: base 512), the base is read from the
chip. Not exercised on real hardware in this repository (no GPIO here); the unit test runs it
against a directory tree shaped like sysfs.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from models.messages import GatePosition

SYSFS_GPIO = Path("/sys/class/gpio")


def chip_base(root: Path = SYSFS_GPIO) -> int:
    """Base number of the SoC GPIO chip: the one labelled pinctrl*, else the lowest base."""
    chips = sorted(root.glob("gpiochip*"))
    if not chips:
        raise OSError(f"no GPIO chips under {root}")
    bases: list[tuple[int, str]] = []
    for chip in chips:
        base = int((chip / "base").read_text().strip())
        label = (chip / "label").read_text().strip() if (chip / "label").exists() else ""
        bases.append((base, label))
    for base, label in bases:
        if label.startswith("pinctrl"):
            return base
    return min(base for base, _ in bases)


def export_line(pin: int, root: Path, base: int | None, wait_s: float) -> tuple[int, Path]:
    """(sysfs number, line directory) of ``pin``, exported if it is not yet."""
    number = (chip_base(root) if base is None else base) + pin
    line = root / f"gpio{number}"
    if not line.exists():
        (root / "export").write_text(str(number))
        # udev may take a moment to create the line's files and set their permissions.
        deadline = time.monotonic() + wait_s
        while not (line / "direction").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return number, line


class SysfsGpioRelay:
    def __init__(
        self,
        pin: int,
        *,
        active_high: bool = True,
        root: Path = SYSFS_GPIO,
        base: int | None = None,
        export_wait_s: float = 1.0,
    ) -> None:
        self.root = root
        self.active_high = active_high
        self.number, self.line = export_line(pin, root, base, export_wait_s)
        self._lock = threading.Lock()
        self._position = GatePosition.CLOSED
        # "low"/"high" set direction and initial level in one write: no glitch on the relay.
        (self.line / "direction").write_text("low" if active_high else "high")
        self._write(False)

    def _write(self, energised: bool) -> None:
        level = energised if self.active_high else not energised
        (self.line / "value").write_text("1" if level else "0")

    def open(self, seconds: float) -> None:
        with self._lock:
            self._write(True)
            self._position = GatePosition.OPEN

    def close(self) -> None:
        with self._lock:
            self._write(False)
            self._position = GatePosition.CLOSED

    @property
    def position(self) -> GatePosition:
        return self._position

    def release(self) -> None:
        """De-energise and unexport (the barrier stays closed)."""
        with self._lock:
            self._write(False)
            (self.root / "unexport").write_text(str(self.number))
