"""Plate grammar used by recognition: per-position alphabets, confusions, type from text."""

import pytest

from models.plate import (
    PROVINCES,
    PlateColor,
    color_from_text,
    correct_confusions,
    is_valid_plate,
    plate_templates,
)


def test_alphabets_follow_the_grammar() -> None:
    (seven,) = plate_templates(7)
    assert len(seven) == 7 and seven[0] == PROVINCES
    assert "I" in seven[1] and "O" in seven[1]  # the letter slot takes any letter
    for serial in seven[2:6]:
        assert "I" not in serial and "O" not in serial and "0" in serial and "A" in serial
    assert set("学挂警港澳") <= set(seven[6])
    with pytest.raises(ValueError):
        plate_templates(6)


def test_new_energy_layouts_carry_the_energy_class() -> None:
    """GA 36: a small vehicle's serial starts with its energy class, a large one's ends in D/F;
    the rest of the serial is digits."""
    small, large = plate_templates(8)
    assert small[2] == "DABCEFGHJK" and "1" in small[3] and "A" in small[3]
    assert all(pos == "0123456789" for pos in small[4:])
    assert all(pos == "0123456789" for pos in large[2:7]) and large[7] == "DF"
    assert "警" not in small[7] + large[7]


def test_black_plates_are_hong_kong_macau_guangdong_z() -> None:
    ((*black,),) = plate_templates(7, PlateColor.BLACK)
    assert black[:2] == ["粤", "Z"] and black[6] == "港澳"
    assert plate_templates(7, PlateColor.WHITE)[0][:2] == plate_templates(7)[0][:2]


@pytest.mark.parametrize(
    ("raw", "fixed"),
    [
        ("浙0A1234", "浙DA1234"),  # 0 in the letter slot is a D
        ("浙8A1234", "浙BA1234"),
        ("浙2A1234", "浙ZA1234"),
        ("浙HAO234", "浙HA0234"),  # O in the serial is a zero
        ("浙HAI234", "浙HA1234"),
        ("浙H·A1234", "浙HA1234"),
        ("浙HD12345", "浙HD12345"),  # a valid plate is left alone
    ],
)
def test_confusions_resolved_by_position(raw: str, fixed: str) -> None:
    assert correct_confusions(raw) == fixed
    assert is_valid_plate(fixed)


@pytest.mark.parametrize(
    ("text", "color"),
    [
        ("浙HD12345", PlateColor.GREEN),
        ("沪A1234警", PlateColor.WHITE),
        ("粤Z1234港", PlateColor.BLACK),
        ("粤Z1234澳", PlateColor.BLACK),
        ("粤B1234学", PlateColor.YELLOW),
        ("粤B1234挂", PlateColor.YELLOW),
        ("浙HA1234", None),  # blue or yellow: the colour decides
    ],
)
def test_type_implied_by_text(text: str, color: PlateColor | None) -> None:
    assert color_from_text(text) == color
