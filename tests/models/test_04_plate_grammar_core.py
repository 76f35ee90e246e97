"""Core plate grammar used by config and message validation."""

import pytest

from models.plate import (
    PROVINCES,
    format_plate,
    is_valid_plate,
    normalize_plate,
    plate_error,
    province,
)


def test_31_provinces() -> None:
    assert len(PROVINCES) == 31 and len(set(PROVINCES)) == 31


@pytest.mark.parametrize(
    "plate",
    [
        "浙HA1234",
        "浙H·A1234",
        "京A12345",
        "浙HD12345",
        "浙HDA1234",  # new energy, small vehicle: class, letter or digit, 4 digits
        "浙HF51234",
        "粤B12345D",  # new energy, large vehicle: 5 digits then D/F
        "粤B1234学",
        "沪A1234警",
        "粤Z1234港",
        "浙h a1234",
    ],
)
def test_valid(plate: str) -> None:
    assert is_valid_plate(plate), plate_error(plate)


@pytest.mark.parametrize(
    ("plate", "why"),
    [
        ("", "empty"),
        ("AB12345", "province"),
        ("浙1A1234", "letter"),
        ("浙HA12", "7 or 8"),
        ("浙HAI234", "without I or O"),
        ("浙HAO234", "without I or O"),
        ("浙H123456", "new-energy serial"),  # 8 characters without the energy class
        ("浙HX12345", "new-energy serial"),  # X is no energy class
        ("浙HDA123B", "new-energy serial"),  # a small vehicle's serial ends in 4 digits
        ("粤B12345A", "new-energy serial"),  # a large vehicle's class is D or F
    ],
)
def test_invalid_with_reason(plate: str, why: str) -> None:
    assert not is_valid_plate(plate)
    assert why in (plate_error(plate) or "")


def test_normalise_and_format() -> None:
    assert normalize_plate(" 浙h·a-1234 ") == "浙HA1234"
    assert format_plate("浙HA1234") == "浙H·A1234"


def test_province_is_one_of_the_31() -> None:
    assert province("浙") == "浙"
    for bad in ("X", "", "京津"):  # "京津" and "" are substrings of PROVINCES, not provinces
        with pytest.raises(ValueError, match="31 province"):
            province(bad)
