"""Plate colour/type from the rectified crop, reconciled with what the text implies."""

from __future__ import annotations

import cv2
import numpy as np

from models.plate import PlateColor, color_from_text, normalize_plate


def background_color(crop_bgr: np.ndarray) -> tuple[PlateColor, bool]:
    """Colour of the plate background and whether the characters are lighter than it.

    The inner part of the crop is split into two classes by brightness (Otsu); characters
    cover well under half of a plate, so the larger class is the background.
    """
    h, w = crop_bgr.shape[:2]
    inner = crop_bgr[int(h * 0.2) : int(h * 0.8), int(w * 0.08) : int(w * 0.92)]
    gray = cv2.cvtColor(inner, cv2.COLOR_BGR2GRAY)
    _, bw = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = bw > 0
    bg_is_bright = bright.mean() > 0.5
    bg = inner[bright] if bg_is_bright else inner[~bright]
    if bg.size == 0:
        return PlateColor.UNKNOWN, not bg_is_bright
    mean = bg.reshape(-1, 3).astype(np.float32).mean(axis=0)
    hsv = cv2.cvtColor(mean.reshape(1, 1, 3).astype(np.uint8), cv2.COLOR_BGR2HSV)[0, 0]
    hue, sat, val = int(hsv[0]), int(hsv[1]), int(hsv[2])
    text_light = not bg_is_bright
    if sat >= 60 and 95 <= hue <= 135:
        return PlateColor.BLUE, text_light
    if sat >= 60 and 8 <= hue <= 36:
        return PlateColor.YELLOW, text_light
    if sat >= 35 and 36 < hue <= 92:
        return PlateColor.GREEN, text_light
    if text_light:  # light characters on an unsaturated dark background
        return PlateColor.BLACK, text_light
    return (PlateColor.WHITE if sat < 60 and val > 90 else PlateColor.UNKNOWN), text_light


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
