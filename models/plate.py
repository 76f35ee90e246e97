"""Chinese licence-plate grammar: pure functions, no I/O.

A plate is stored and compared in its *normalised* form: upper case, no
separators (``浙HA1234``). ``format_plate`` adds the middle dot for display.
"""

from __future__ import annotations

import re
from enum import StrEnum

PROVINCES = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新"
# Letters allowed in the serial part: no I or O (they read as 1 and 0).
SERIAL_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
SERIAL_CHARS = SERIAL_LETTERS + "0123456789"
# Suffix characters of special plates.
SPECIAL_SUFFIXES = "学挂警港澳领使"
# New-energy (green, 8-character) plates carry the energy class in their serial: a small
# vehicle's serial starts with it (D/A/B/C/E pure electric, F/G/H/J/K other), then a letter or
# digit and four digits; a large vehicle's is five digits then D or F.
ENERGY_CLASS_SMALL = "DABCEFGHJK"
ENERGY_CLASS_LARGE = "DF"
DIGITS = "0123456789"


class PlateColor(StrEnum):
    BLUE = "blue"
    YELLOW = "yellow"
    GREEN = "green"
    WHITE = "white"
    BLACK = "black"
    UNKNOWN = "unknown"


_SEPARATORS = re.compile(r"[\s·•.\-_]")

_ORDINARY = re.compile(rf"^[{PROVINCES}][A-Z][{SERIAL_CHARS}]{{5}}$")
_NEW_ENERGY = re.compile(
    rf"^[{PROVINCES}][A-Z]"
    rf"([{ENERGY_CLASS_SMALL}][{SERIAL_CHARS}]\d{{4}}|\d{{5}}[{ENERGY_CLASS_LARGE}])$"
)
_SPECIAL = re.compile(rf"^[{PROVINCES}][A-Z][{SERIAL_CHARS}]{{4}}[{SPECIAL_SUFFIXES}]$")


def normalize_plate(text: str) -> str:
    """Upper-case and strip separators: ``'浙h·a1234'`` -> ``'浙HA1234'``."""
    return _SEPARATORS.sub("", text).upper()


def is_valid_plate(text: str) -> bool:
    """True when ``text`` (any separators) is a well-formed civil plate."""
    plate = normalize_plate(text)
    return bool(_ORDINARY.match(plate) or _NEW_ENERGY.match(plate) or _SPECIAL.match(plate))


def plate_error(text: str) -> str | None:
    """Why ``text`` is not a plate, or None when it is one."""
    plate = normalize_plate(text)
    if not plate:
        return "empty plate"
    if plate[0] not in PROVINCES:
        return f"first character {plate[0]!r} is not one of the 31 province characters"
    if len(plate) not in (7, 8):
        return f"a plate has 7 or 8 characters, not {len(plate)}"
    if not ("A" <= plate[1] <= "Z"):
        return f"second character {plate[1]!r} must be a letter A-Z"
    if not is_valid_plate(plate):
        if len(plate) == 8:
            return (
                "a new-energy serial is D/A/B/C/E or F/G/H/J/K, a letter or digit and four "
                "digits (small vehicle), or five digits and D/F (large vehicle)"
            )
        return "serial must be A-Z/0-9 without I or O (special plates end in 学/挂/警/港/澳)"
    return None


def province(value: str) -> str:
    """``value`` when it is one of the 31 province characters, else ValueError saying so."""
    if value not in PROVINCES or len(value) != 1:
        raise ValueError(f"{value!r} is not one of the 31 province characters")
    return value


def format_plate(text: str) -> str:
    """Display form with the middle dot: ``'浙HA1234'`` -> ``'浙H·A1234'``."""
    plate = normalize_plate(text)
    return f"{plate[:2]}·{plate[2:]}" if len(plate) > 2 else plate


def expected_length(color: PlateColor) -> tuple[int, ...]:
    """Plate lengths a colour/type allows (green new-energy plates have 8)."""
    if color is PlateColor.GREEN:
        return (8,)
    if color is PlateColor.UNKNOWN:
        return (7, 8)
    return (7,)


# --- Recognition support: what each character position may hold, and fixing confusions. ---

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Characters an OCR commonly swaps on plates: digit <-> letter look-alikes.
_TO_LETTER = {"0": "D", "8": "B", "2": "Z", "1": "J", "5": "S", "6": "G", "4": "A", "7": "T"}
_TO_SERIAL = {"O": "0", "I": "1", "Q": "0"}


def plate_templates(length: int, color: PlateColor | None = None) -> tuple[tuple[str, ...], ...]:
    """The layouts a plate of ``length`` (7 or 8) may have: per layout, the characters
    allowed at each position.

    7: province, letter, 4 serial, then serial or a special suffix (学挂警港澳).
    8 (green new energy): province, letter, then a small vehicle's serial (energy class,
    letter or digit, 4 digits) or a large one's (5 digits, D/F): two layouts.
    A known plate type narrows the last position: white police plates end in 警, black
    ones in 港/澳, yellow in serial/学/挂, blue in serial. Black Hong Kong / Macau plates
    are all issued as 粤Z, so their first two positions are fixed too.
    """
    if length == 8:
        head = (PROVINCES, LETTERS)
        return (
            (*head, ENERGY_CLASS_SMALL, SERIAL_CHARS, *([DIGITS] * 4)),
            (*head, *([DIGITS] * 5), ENERGY_CLASS_LARGE),
        )
    if length != 7:
        raise ValueError(f"plates have 7 or 8 characters, not {length}")
    last = {
        PlateColor.WHITE: "警",
        PlateColor.BLACK: "港澳",
        PlateColor.YELLOW: SERIAL_CHARS + "学挂",
        PlateColor.BLUE: SERIAL_CHARS,
    }.get(color, SERIAL_CHARS + "学挂警港澳")  # type: ignore[arg-type]
    if color is PlateColor.BLACK:
        return (("粤", "Z", *([SERIAL_CHARS] * 4), last),)
    return ((PROVINCES, LETTERS, *([SERIAL_CHARS] * 4), last),)


def correct_confusions(text: str) -> str:
    """Resolve digit/letter look-alikes by position: letter in position 2 (0->D, 8->B, 2->Z),
    no I/O in the serial (O->0, I->1). Other characters are left alone."""
    plate = normalize_plate(text)
    if len(plate) < 2:
        return plate
    second = _TO_LETTER.get(plate[1], plate[1])
    serial = "".join(_TO_SERIAL.get(c, c) for c in plate[2:])
    return plate[0] + second + serial


def color_from_text(text: str) -> PlateColor | None:
    """The plate type a well-formed text implies on its own, or None when any colour fits
    (7-character ordinary plates are blue or yellow)."""
    plate = normalize_plate(text)
    if len(plate) == 8:
        return PlateColor.GREEN
    last = plate[-1:]
    if last == "警":
        return PlateColor.WHITE
    if last in ("港", "澳"):
        return PlateColor.BLACK
    if last in ("学", "挂"):
        return PlateColor.YELLOW
    return None
