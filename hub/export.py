"""CSV that is safe to open in a spreadsheet (pure).

A cell whose text starts with ``= + - @`` (or a tab or carriage return) is run as a formula
by Excel, LibreOffice and Sheets: a plate, a complaint or a user name typed as
``=HYPERLINK(...)`` would run on the regulator's machine ("CSV injection"). Such cells get a
leading apostrophe, which the spreadsheet shows as text. Plain numbers, negative ones
included, stay numbers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$")


def safe_cell(value: Any) -> Any:
    """``value`` as it may go into a CSV cell."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    if NUMBER.match(value):
        return value
    return "'" + value


class SafeWriter:
    """``csv.writer`` whose every cell goes through ``safe_cell``."""

    def __init__(self, fh: IO[str]) -> None:
        self._writer = csv.writer(fh)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
