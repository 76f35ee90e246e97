"""Plate colour/type from the rectified crop, reconciled with what the text implies."""

from __future__ import annotations

import cv2
import numpy as np

from models.plate import PlateColor, color_from_text, normalize_plate


def background_color(crop_bgr: np.ndarray) -> tuple[PlateColor, bool]:
    """Colour of the plate background and whether the characters are lighter than it.

    Read from the bands above and below the characters (a plate's top and bottom 25 mm are
    bare background), compared with the character band for the text polarity.
    """
    h, w = crop_bgr.shape[:2]
    x0, x1 = int(w * 0.12), int(w * 0.88)
    # In a crop with READ_MARGIN the plate spans ~8%..92% of the height, characters ~23..77%.
    bands = np.concatenate(
        [crop_bgr[int(h * 0.1) : int(h * 0.2), x0:x1], crop_bgr[int(h * 0.8) : int(h * 0.9), x0:x1]]
    )
    chars = crop_bgr[int(h * 0.3) : int(h * 0.7), x0:x1]
    if bands.size == 0 or chars.size == 0:
        return PlateColor.UNKNOWN, False
    bg = np.median(bands.reshape(-1, 3), axis=0)
    bg_luma = float(cv2.cvtColor(bg.reshape(1, 1, 3).astype(np.uint8), cv2.COLOR_BGR2GRAY)[0, 0])
    char_gray = cv2.cvtColor(chars, cv2.COLOR_BGR2GRAY).astype(np.float32)
    # Characters are whatever departs most from the background in the character band.
    far = char_gray[np.abs(char_gray - bg_luma) >= np.percentile(np.abs(char_gray - bg_luma), 70)]
    text_light = bool(far.size and float(far.mean()) > bg_luma)
    hsv = cv2.cvtColor(bg.reshape(1, 1, 3).astype(np.uint8), cv2.COLOR_BGR2HSV)[0, 0]
    hue, sat, val = int(hsv[0]), int(hsv[1]), int(hsv[2])
    if sat >= 60 and 95 <= hue <= 135:
        return PlateColor.BLUE, text_light
    if sat >= 60 and 8 <= hue <= 36:
        return PlateColor.YELLOW, text_light
    if sat >= 35 and 36 < hue <= 92:
        return PlateColor.GREEN, text_light
    if text_light:  # light characters on an unsaturated dark background
        return PlateColor.BLACK, text_light
    return (PlateColor.WHITE if sat < 60 and val > 60 else PlateColor.UNKNOWN), text_light


def red_suffix(crop_bgr: np.ndarray) -> bool:
    """True when the last character is red: the 警 of a white police plate (nothing else on a
    civil plate is red)."""
    h, w = crop_bgr.shape[:2]
    cell = crop_bgr[int(h * 0.25) : int(h * 0.75), int(w * 0.8) : int(w * 0.96)]
    if cell.size == 0:
        return False
    hsv = cv2.cvtColor(cell, cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    red = ((hue <= 10) | (hue >= 165)) & (sat >= 70) & (val >= 50)
    return float(red.mean()) >= 0.08


def plate_color(text: str, crop_bgr: np.ndarray) -> PlateColor:
    """The plate type: the text decides where it can (8 chars green, 警 white, 港/澳 black,
    学/挂 yellow); otherwise the background colour, limited to the types an ordinary
    7-character plate can have (blue or yellow)."""
    implied = color_from_text(text)
    if implied is not None:
        return implied
    seen, text_light = background_color(crop_bgr)
    if len(normalize_plate(text)) == 7 and seen not in (PlateColor.BLUE, PlateColor.YELLOW):
        # Colour washed out (night, IR, glare): light text on dark is blue, else yellow.
        return PlateColor.BLUE if text_light else PlateColor.YELLOW
    return seen
