"""Synthetic Chinese licence plates: random plate text, plate images, whole camera frames.

Everything is deterministic from a seed. The plate image follows the GA 36 layout (440x140 mm,
green new-energy 480x140 mm, 45x90 mm characters, a separator dot after the 2nd character)
drawn with the fonts Debian ships (WQY for Chinese, DejaVu Sans Condensed Bold for the
serial when present). Scenes (a car front with the plate, backgrounds, light, blur, dirt,
occlusion) live in ``simulators/plate_scenes.py`` and are re-exported here.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.plate import PROVINCES, SERIAL_LETTERS, PlateColor
from simulators.plate_scenes import apply_conditions, background, draw_car

CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
LATIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)
PLATE_TYPES = (PlateColor.BLUE, PlateColor.YELLOW, PlateColor.GREEN, PlateColor.WHITE,
               PlateColor.BLACK)  # fmt: skip
DIGITS = "0123456789"


@dataclass(frozen=True)
class PlateTruth:
    """Ground truth of one plate in a frame: text (normalised), type, where it is."""

    text: str
    color: PlateColor
    quad: tuple[tuple[float, float], ...]  # 4 corners TL, TR, BR, BL in frame pixels
    box: tuple[int, int, int, int]  # axis-aligned x, y, w, h around the quad


# ---------------------------------------------------------------------------------------------
# Plate text


def _serial(rng: random.Random, n: int) -> str:
    """Serial part like real plates: mostly digits, up to 2 letters (never I/O)."""
    letters = rng.choice((0, 0, 1, 1, 2, 3))
    chars = [rng.choice(DIGITS) for _ in range(n)]
    for i in rng.sample(range(n), min(letters, n)):
        chars[i] = rng.choice(SERIAL_LETTERS)
    return "".join(chars)


def random_plate(rng: random.Random, color: PlateColor) -> str:
    """A well-formed random plate of the given type (normalised, no dot)."""
    prov = rng.choice(PROVINCES)
    letter = rng.choice(SERIAL_LETTERS)
    if color is PlateColor.GREEN:
        # New energy: D/F (+ letter/digit) then digits for small cars, or 5 digits then D/F.
        if rng.random() < 0.7:
            head = rng.choice("DF") + rng.choice(SERIAL_LETTERS + DIGITS)
            return prov + letter + head + "".join(rng.choice(DIGITS) for _ in range(4))
        return prov + letter + "".join(rng.choice(DIGITS) for _ in range(5)) + rng.choice("DF")
    if color is PlateColor.YELLOW:
        suffix = rng.choices(("", "学", "挂"), weights=(6, 2, 2))[0]
        return prov + letter + _serial(rng, 5 - len(suffix)) + suffix
    if color is PlateColor.WHITE:
        return prov + letter + _serial(rng, 4) + "警"
    if color is PlateColor.BLACK:
        return "粤Z" + _serial(rng, 4) + rng.choice("港澳")
    return prov + letter + _serial(rng, 5)


# ---------------------------------------------------------------------------------------------
# Plate image

# Colours in BGR with a random spread so that nothing downstream can key on exact values.
_BG = {
    PlateColor.BLUE: ((170, 60, 0), (230, 110, 40)),
    PlateColor.YELLOW: ((0, 170, 215), (60, 215, 255)),
    PlateColor.WHITE: ((225, 225, 225), (255, 255, 255)),
    PlateColor.BLACK: ((10, 10, 10), (45, 45, 45)),
}
_FG_LIGHT = ((225, 225, 225), (255, 255, 255))
_FG_DARK = ((0, 0, 0), (40, 40, 40))


def _pick(rng: random.Random, lo_hi: tuple[tuple[int, ...], tuple[int, ...]]) -> tuple[int, ...]:
    lo, hi = lo_hi
    t = rng.random()
    return tuple(
        int(min(255, max(0, a + (b - a) * t + rng.uniform(-8, 8))))
        for a, b in zip(lo, hi, strict=True)
    )


def _first_font(paths: tuple[str, ...]) -> str:
    for p in paths:
        if Path(p).exists():
            return p
    return CJK_FONTS[0]


@cache
def _glyph(char: str, font_path: str, bold: int) -> np.ndarray:
    """Tight ink mask (uint8 0..255) of one character rendered large."""
    font = ImageFont.truetype(font_path, 160)
    img = Image.new("L", (260, 260), 0)
    ImageDraw.Draw(img).text((30, 10), char, font=font, fill=255, stroke_width=bold,
                             stroke_fill=255)  # fmt: skip
    arr = np.asarray(img)
    ys, xs = np.nonzero(arr > 40)
    return arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].copy()


def _char_mask(char: str, w: int, h: int, rng: random.Random) -> np.ndarray:
    """The glyph fitted into a w x h box like the narrow plate font (full height, condensed)."""
    is_cjk = ord(char) > 0x2E80
    font = rng.choice(CJK_FONTS) if is_cjk else _first_font(LATIN_FONTS)
    g = _glyph(char, font, 5 if is_cjk else 3)
    gh, gw = g.shape
    tw = gw * h / gh
    # Plate glyphs fill the box; only genuinely narrow glyphs (1) keep their own width.
    tw = w if is_cjk or tw > 0.45 * w else max(tw, 0.28 * w)
    tw = round(min(tw, w))
    out = np.zeros((h, w), np.uint8)
    resized = cv2.resize(g, (tw, h), interpolation=cv2.INTER_AREA)
    x0 = (w - tw) // 2
    out[:, x0 : x0 + tw] = resized
    return out


def plate_layout(n_chars: int) -> tuple[int, int, list[tuple[int, int, int, int]], tuple[int, int]]:
    """Plate size and character boxes in mm (1 px per mm): (w, h, boxes, dot centre)."""
    if n_chars == 8:
        w, cw, sp, gap = 480, 43, 9, 49
    else:
        w, cw, sp, gap = 440, 45, 12, 34
    total = n_chars * cw + (n_chars - 2) * sp + gap
    x = (w - total) / 2
    boxes = []
    for i in range(n_chars):
        boxes.append((round(x), 25, cw, 90))
        x += cw + (gap if i == 1 else sp)
    dot_x = boxes[1][0] + cw + gap // 2
    return w, 140, boxes, (dot_x, 70)


def render_plate(text: str, color: PlateColor, *, rng: random.Random) -> np.ndarray:
    """A clean frontal plate image (BGR, 1 px per mm: 440x140, green 480x140)."""
    w, h, boxes, dot = plate_layout(len(text))
    if color is PlateColor.GREEN:
        top = np.array(_pick(rng, ((225, 245, 225), (245, 255, 245))), np.float32)
        bottom = np.array(_pick(rng, ((70, 175, 40), (110, 215, 90))), np.float32)
        ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None] ** rng.uniform(0.6, 1.2)
        img = (top * (1 - ramp) + bottom * ramp).repeat(w, axis=1)
        img = np.clip(img, 0, 255).astype(np.uint8)
    else:
        img = np.empty((h, w, 3), np.uint8)
        img[:] = _pick(rng, _BG[color])
    light_text = color in (PlateColor.BLUE, PlateColor.BLACK)
    fg = _pick(rng, _FG_LIGHT if light_text else _FG_DARK)
    # Border: a thin line inset from the edge, as on the embossed plates.
    border = fg if color is not PlateColor.GREEN else (60, 60, 60)
    cv2.rectangle(img, (4, 4), (w - 5, h - 5), border, 2, cv2.LINE_AA)
    for i, (ch, (x, y, cw, chh)) in enumerate(zip(text, boxes, strict=True)):
        colour = fg
        if color is PlateColor.WHITE and i == len(text) - 1:
            colour = (30, 30, 210)  # the red 警
        mask = _char_mask(ch, cw, chh, rng).astype(np.float32)[..., None] / 255.0
        roi = img[y : y + chh, x : x + cw].astype(np.float32)
        img[y : y + chh, x : x + cw] = (roi * (1 - mask) + np.array(colour) * mask).astype(np.uint8)
    cv2.circle(img, dot, 5, fg, -1, cv2.LINE_AA)
    # Rivets in the top margin.
    for rx in (int(w * 0.21), int(w * 0.79)):
        cv2.circle(img, (rx, 12), 5, (185, 185, 185), -1, cv2.LINE_AA)
        cv2.circle(img, (rx, 12), 5, (90, 90, 90), 1, cv2.LINE_AA)
    return img


# ---------------------------------------------------------------------------------------------
# Frames


def color_of(text: str) -> PlateColor:
    """The plate type a text implies when the caller gave none (8 chars -> green, ...)."""
    if len(text) == 8:
        return PlateColor.GREEN
    last = text[-1:]
    if last == "警":
        return PlateColor.WHITE
    if last in ("港", "澳"):
        return PlateColor.BLACK
    if last in ("学", "挂"):
        return PlateColor.YELLOW
    return PlateColor.BLUE


def _homography(
    src_center: tuple[float, float],
    dst_center: tuple[float, float],
    angles: tuple[float, ...],
    f: float,
) -> np.ndarray:
    """Map the car layer (plate centre at ``src_center``) into the frame through a camera
    rotated by (yaw, pitch, roll) degrees, plate centre landing on ``dst_center``."""
    yaw, pitch, roll = np.radians(angles)
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array(
        [[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]]
    )
    rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    r = rz @ rx @ ry
    src = np.array([[-300, -200], [300, -200], [300, 200], [-300, 200]], np.float32)
    dst = []
    for x, y in src:
        p = r @ np.array([x, y, 0.0]) + np.array([0, 0, f])
        dst.append((f * p[0] / p[2] + dst_center[0], f * p[1] / p[2] + dst_center[1]))
    src_abs = src + np.array(src_center, np.float32)
    return cv2.getPerspectiveTransform(src_abs, np.array(dst, np.float32))


def render_vehicle_frame(
    plates: list[tuple[str, PlateColor]] | str | None,
    *,
    seed: int,
    size: tuple[int, int] = (1280, 720),
    difficulty: str = "easy",
    plate_width: float | None = None,
    angles: tuple[float, float, float] | None = None,
) -> tuple[np.ndarray, list[PlateTruth]]:
    """A gate-camera frame: car(s) seen from the front with the plate(s) on the bumper.

    ``plates`` is one plate text (its type inferred), a list of (text, type), or None for a
    frame with cars but no plate. ``difficulty`` "hard" adds dusk/night, glare, strong
    perspective (to 15 degrees), small plates (80-120 px), blur, dirt and partial occlusion.
    ``plate_width`` (px) and ``angles`` (yaw, pitch, roll degrees) override the random draw.
    Returns the BGR frame and the ground truth of every plate in it.
    """
    rng = random.Random(seed)
    hard = difficulty == "hard"
    w, h = size
    if isinstance(plates, str):
        items: list[tuple[str, PlateColor] | None] = [(plates, color_of(plates))]
    elif plates is None:
        items = [None]  # a car without a plate (or with the plate out of view)
    else:
        items = list(plates) or [None]
    frame = background(rng, w, h)
    n = len(items)
    truths: list[PlateTruth] = []
    quads: list[np.ndarray] = []
    plate_layers: list[tuple[np.ndarray, np.ndarray]] = []  # (warped car, plate quad)
    for i, item in enumerate(items):
        slot_w = w / n
        if plate_width is not None:
            pw = float(plate_width)
        elif hard and rng.random() < 0.5:
            pw = rng.uniform(80, 120)
        else:
            pw = rng.uniform(120, 400) if hard else rng.uniform(130, 380)
        pw = min(pw, slot_w * 0.45)
        text = item[0] if item else random_plate(rng, PlateColor.BLUE)
        n_chars = len(text)
        pw_mm, ph_mm = (480, 140) if n_chars == 8 else (440, 140)
        ph = pw * ph_mm / pw_mm
        car_w = int(pw * rng.uniform(3.4, 4.2))
        car, alpha, (px, py) = draw_car(rng, car_w, (round(pw), round(ph)))
        if item is not None:
            plate_img = render_plate(text, item[1], rng=rng)
            plate_small = cv2.resize(plate_img, (round(pw), round(ph)),
                                     interpolation=cv2.INTER_AREA)  # fmt: skip
            car[py : py + plate_small.shape[0], px : px + plate_small.shape[1]] = plate_small
        if angles is not None:
            ang = angles
        else:
            lim = (15.0, 15.0, 12.0) if hard else (8.0, 8.0, 4.0)
            ang = (
                rng.uniform(-lim[0], lim[0]),
                rng.uniform(0, lim[1]),
                rng.uniform(-lim[2], lim[2]),
            )
        centre = (px + pw / 2, py + ph / 2)
        margin = pw * 0.6
        cx = rng.uniform(slot_w * i + margin, slot_w * (i + 1) - margin)
        cy = rng.uniform(max(h * 0.35, ph * 2), min(h * 0.85, h - ph * 2))
        hom = _homography(centre, (cx, cy), ang, f=1.2 * w)
        warped = cv2.warpPerspective(car, hom, (w, h), flags=cv2.INTER_LINEAR)
        a = cv2.warpPerspective(alpha, hom, (w, h), flags=cv2.INTER_LINEAR)
        a = a.astype(np.float32)[..., None] / 255.0
        frame = (frame * (1 - a) + warped * a).astype(np.uint8)
        if item is not None:
            rect = np.array(
                [[px, py], [px + pw, py], [px + pw, py + ph], [px, py + ph]], np.float32
            )
            quad = cv2.perspectiveTransform(rect[None], hom)[0]
            quads.append(quad)
            plate_layers.append((warped, quad))
            x0, y0 = np.floor(quad.min(axis=0)).astype(int)
            x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
            x0, y0 = max(0, x0), max(0, y0)
            box = (int(x0), int(y0), int(min(w, x1) - x0), int(min(h, y1) - y0))
            truths.append(
                PlateTruth(
                    text=text,
                    color=item[1],
                    quad=tuple((float(x), float(y)) for x, y in quad),
                    box=box,
                )
            )
    # Neighbouring cars may overlap in the picture, but not over each other's plates.
    for owner, quad in plate_layers:
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, quad.astype(np.int32), 255)
        frame[mask > 0] = owner[mask > 0]
    frame, _info = apply_conditions(frame, rng, quads, hard)
    return frame, truths


def generate_dataset(
    n: int, *, seed: int, size: tuple[int, int] = (1280, 720)
) -> Iterator[tuple[np.ndarray, list[PlateTruth], dict[str, object]]]:
    """``n`` frames cycling the five plate types; every other block of five is hard; about one
    frame in ten carries two or three plates. Deterministic from ``seed``."""
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        kind = PLATE_TYPES[i % 5]
        difficulty = "hard" if (i // 5) % 2 else "easy"
        count = rng.choice((2, 3)) if i % 10 == 7 else 1
        kinds = [kind] + [rng.choice(PLATE_TYPES) for _ in range(count - 1)]
        plates = [(random_plate(rng, k), k) for k in kinds]
        frame_seed = rng.getrandbits(40)
        frame, truths = render_vehicle_frame(
            plates, seed=frame_seed, size=size, difficulty=difficulty
        )
        meta: dict[str, object] = {"index": i, "difficulty": difficulty, "seed": frame_seed}
        yield frame, truths, meta
