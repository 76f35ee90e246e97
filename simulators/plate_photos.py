"""An independent second plate-photo generator: a validation set the reader is never tuned on.

Shares nothing with ``simulators/plates.py`` and ``simulators/plate_scenes.py`` but the plate
grammar (``models/plate.py``): other fonts (Noto Sans/Serif CJK, AR PL UMing/UKai for the
Chinese characters, Liberation Sans Narrow / Mono / Noto for the serial), another plate
drawing (embossed characters with shading, spacing and weight jitter, rounded corners,
screws in the margin or between characters, dealer frames with lettering), other scenes
(textured walls and asphalt, rounded car bodies, cars behind, Chinese signs) and
photographic degradations: perspective up to 30 degrees of yaw, motion blur in any
direction, defocus, low light with shot noise, white balance casts, reflections across the
plate, partial occlusion, dirt, low resolution, vignetting and JPEG.

``generate_photo_dataset(n, seed=...)`` has the same shape as ``plates.generate_dataset``:
(frame, truths, meta) with half the frames "hard". Deterministic from the seed.
Which seeds are for what is set in ``bench/lpr.py`` (a development split and a report split
that nothing is tuned on).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.plate import DIGITS, PROVINCES, SERIAL_LETTERS, PlateColor
from simulators.plates import PlateTruth

# (path, face index in a collection). None of them is used by simulators/plates.py.
CJK_FACES = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 2),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0),
)
LATIN_FACES = (
    ("/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf", 0),
    ("/usr/share/fonts/truetype/liberation/LiberationMono-Bold.ttf", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf", 0),
)
FONT_PACKAGES = "fonts-noto-cjk fonts-arphic-uming fonts-arphic-ukai fonts-liberation"
PHOTO_TYPES = (PlateColor.BLUE, PlateColor.GREEN, PlateColor.YELLOW, PlateColor.WHITE,
               PlateColor.BLACK)  # fmt: skip
SIGN_TEXTS = ("小区停车场", "出口", "入口 限高2.2米", "减速慢行", "访客登记", "物业服务中心",
              "禁止停车", "ETC", "月租车辆", "P 停车场", "安全出口")  # fmt: skip
FRAME_TEXTS = ("4S店", "汽车销售", "平安出行", "一路平安", "AUTO", "SERVICE")


def available_faces(faces: tuple[tuple[str, int], ...]) -> list[tuple[str, int]]:
    found = [f for f in faces if Path(f[0]).exists()]
    if not found:
        raise RuntimeError(
            f"no font of the independent generator is installed: apt-get install {FONT_PACKAGES}"
        )
    return found


def photo_plate_text(rng: random.Random, color: PlateColor) -> str:
    """A plate text of ``color`` drawn independently of plates.random_plate (other mix)."""
    prov = rng.choice(PROVINCES)
    letter = rng.choice(SERIAL_LETTERS)

    def serial(n: int) -> str:
        out = []
        for _ in range(n):
            out.append(rng.choice(SERIAL_LETTERS) if rng.random() < 0.22 else rng.choice(DIGITS))
        return "".join(out)

    if color is PlateColor.GREEN:
        if rng.random() < 0.75:
            digits = "".join(rng.choice(DIGITS) for _ in range(4))
            return prov + letter + rng.choice("DABCEFGHJK") + serial(1) + digits
        return prov + letter + "".join(rng.choice(DIGITS) for _ in range(5)) + rng.choice("DF")
    if color is PlateColor.YELLOW:
        tail = rng.choice(("", "", "学", "挂"))
        return prov + letter + serial(5 - len(tail)) + tail
    if color is PlateColor.WHITE:
        return prov + letter + serial(4) + "警"
    if color is PlateColor.BLACK:
        return "粤Z" + serial(4) + rng.choice("港澳")
    return prov + letter + serial(5)


# ---------------------------------------------------------------------------------------------
# The plate


@cache
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


@cache
def _ink(char: str, path: str, index: int) -> np.ndarray:
    """Tight glyph mask (float 0..1) at 200 px."""
    font = _font(path, index, 200)
    img = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(img).text((40, 20), char, font=font, fill=255)
    arr = np.asarray(img)
    ys, xs = np.nonzero(arr > 30)
    return arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32) / 255.0


_COLOURS = {  # (background BGR, ink BGR) ranges picked independently of plates.py
    PlateColor.BLUE: (((150, 50, 5), (215, 95, 30)), ((215, 215, 215), (250, 250, 250))),
    PlateColor.YELLOW: (((10, 150, 200), (50, 200, 245)), ((15, 15, 15), (50, 50, 50))),
    PlateColor.WHITE: (((205, 210, 210), (245, 245, 245)), ((10, 10, 10), (45, 45, 45))),
    PlateColor.BLACK: (((15, 15, 15), (55, 50, 50)), ((205, 205, 205), (245, 245, 245))),
}


def _between(rng: random.Random, lo: tuple[int, ...], hi: tuple[int, ...]) -> np.ndarray:
    t = rng.random()
    return np.array([a + (b - a) * t + rng.uniform(-6, 6) for a, b in zip(lo, hi, strict=True)])


def draw_plate(text: str, color: PlateColor, rng: random.Random, scale: float = 2.0) -> np.ndarray:
    """The plate at ``scale`` px per mm (BGR), embossed characters, screws, shading."""
    n = len(text)
    w_mm = 480 if n == 8 else 440
    w, h = round(w_mm * scale), round(140 * scale)
    if color is PlateColor.GREEN:
        top = _between(rng, (215, 240, 215), (245, 255, 240))
        bottom = _between(rng, (60, 160, 30), (120, 210, 80))
        t = np.linspace(0, 1, h)[:, None, None] ** rng.uniform(0.8, 1.6)
        img = np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).copy()
        ink = _between(rng, (10, 10, 10), (40, 40, 40))
    else:
        (bg_lo, bg_hi), (ink_lo, ink_hi) = _COLOURS[color]
        img = np.empty((h, w, 3))
        img[:] = _between(rng, bg_lo, bg_hi)
        ink = _between(rng, ink_lo, ink_hi)
    # Sheet-metal shading: a soft diagonal light gradient.
    gx = np.linspace(-1, 1, w)[None, :, None] * rng.uniform(-0.08, 0.08)
    gy = np.linspace(-1, 1, h)[:, None, None] * rng.uniform(-0.08, 0.08)
    img = img * (1 + gx + gy)
    # Character row: GA 36 sizes with jittered spacing and width.
    cw = (43 if n == 8 else 45) * rng.uniform(0.93, 1.03)
    gap = (49 if n == 8 else 34) * rng.uniform(0.85, 1.1)
    sp = (9 if n == 8 else 12) * rng.uniform(0.8, 1.15)
    total = n * cw + (n - 2) * sp + gap
    x = (w_mm - total) / 2 + rng.uniform(-4, 4)
    ch_h, y0 = 90 * rng.uniform(0.95, 1.0), 25 + rng.uniform(-2, 2)
    cjk, latin = rng.choice(available_faces(CJK_FACES)), rng.choice(available_faces(LATIN_FACES))
    ink_mask = np.zeros((h, w), np.float32)
    for i, ch in enumerate(text):
        g = _ink(ch, *(cjk if ord(ch) > 0x2E80 else latin))
        gh, gw = g.shape
        bw = cw
        if gw / gh * ch_h < 0.5 * cw and ord(ch) < 0x2E80:  # "1" keeps its narrow width
            bw = max(gw / gh * ch_h, 0.3 * cw)
        tw, th = max(2, round(bw * scale)), max(2, round(ch_h * scale))
        # Plate dies are bold: thicken the (often thin: Ming, Kai) strokes at the glyph's own
        # 200 px scale, a jittered amount, so that a small plate stays legible to a person.
        k = rng.randint(6, 11) if ord(ch) > 0x2E80 else rng.randint(0, 5)
        if k:
            g = cv2.dilate(g, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        glyph = cv2.resize(g, (tw, th), interpolation=cv2.INTER_AREA)
        gx0 = round((x + (cw - bw) / 2) * scale)
        gy0 = round(y0 * scale)
        ink_mask[gy0 : gy0 + th, gx0 : gx0 + tw] = np.maximum(
            ink_mask[gy0 : gy0 + th, gx0 : gx0 + tw], glyph[: h - gy0, : w - gx0]
        )
        x += cw + (gap if i == 1 else sp)
    # The separator dot sits in the wide gap after the second character.
    dot_x = (w_mm - total) / 2 + 2 * cw + sp + gap / 2
    cv2.circle(ink_mask, (round(dot_x * scale), round(70 * scale)), round(5 * scale), 1.0, -1)
    # Embossing: the raised ink casts a shadow down-right and catches light up-left.
    shift = max(1, round(scale))
    shadow = np.roll(ink_mask, (shift, shift), axis=(0, 1)) * (1 - ink_mask)
    light = np.roll(ink_mask, (-shift, -shift), axis=(0, 1)) * (1 - ink_mask)
    img = img * (1 - 0.35 * shadow[..., None]) + 40 * light[..., None]
    colour = np.broadcast_to(ink, (h, w, 3)).copy()
    if color is PlateColor.WHITE:  # the red 警 (last character region)
        colour[:, round((w_mm - 60) * scale) :] = (25, 25, 200)
    img = img * (1 - ink_mask[..., None]) + colour * ink_mask[..., None]
    # Border line and rounded corners.
    r = round(rng.uniform(4, 10) * scale)
    border = np.zeros((h, w), np.uint8)
    inset = round(rng.uniform(3, 6) * scale)
    cv2.rectangle(border, (inset, inset), (w - inset, h - inset), 255, max(1, round(1.2 * scale)))
    img[border > 0] = ink if color is not PlateColor.GREEN else (40, 40, 40)
    # Screws: in the top margin, or between characters 2/3 and 5/6 as on many cars.
    screw_y = round((12 if rng.random() < 0.6 else 70) * scale)
    for sx in (0.24, 0.76) if screw_y < 50 * scale else (0.36, 0.7):
        c = (round(w * sx + rng.uniform(-6, 6) * scale), screw_y)
        metal = rng.uniform(150, 220)
        cv2.circle(img, c, round(5.5 * scale), (metal, metal, metal), -1, cv2.LINE_AA)
        cv2.line(img, (c[0] - round(4 * scale), c[1]), (c[0] + round(4 * scale), c[1]),
                 (60, 60, 60), max(1, round(scale)))  # fmt: skip
    img = np.clip(img, 0, 255).astype(np.uint8)
    # Rounded corners: paint them black (the bumper shows there once pasted).
    mask = np.full((h, w), 255, np.uint8)
    for cx, cy in ((r, r), (w - r - 1, r), (r, h - r - 1), (w - r - 1, h - r - 1)):
        corner = np.zeros_like(mask)
        x0, y0_ = (0 if cx == r else cx), (0 if cy == r else cy)
        corner[y0_ : y0_ + r + 1, x0 : x0 + r + 1] = 255
        cv2.circle(corner, (cx, cy), r, 0, -1)
        mask[corner > 0] = 0
    img[mask == 0] = (20, 20, 20)
    return img


def with_frame(plate: np.ndarray, rng: random.Random) -> tuple[np.ndarray, tuple[int, int]]:
    """A dealer's plate holder around the plate, sometimes lettered: (image, plate offset)."""
    h, w = plate.shape[:2]
    if rng.random() < 0.35:
        return plate, (0, 0)
    side = round(h * rng.uniform(0.04, 0.08))
    top = round(h * rng.uniform(0.04, 0.1))
    bottom = round(h * rng.uniform(0.08, 0.22))
    tone = rng.choice((25, 35, 180, 200))
    out = np.full((h + top + bottom, w + 2 * side, 3), tone, np.uint8)
    out[top : top + h, side : side + w] = plate
    if bottom > h * 0.12:
        pil = Image.fromarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))
        font = _font(*available_faces(CJK_FACES)[0], max(8, round(bottom * 0.7)))
        ink = (230, 230, 230) if tone < 100 else (30, 30, 30)
        label = rng.choice(FRAME_TEXTS)
        ImageDraw.Draw(pil).text(
            (side + w * rng.uniform(0.2, 0.45), top + h + bottom * 0.1), label, font=font, fill=ink
        )
        out = cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)
    return out, (side, top)


# ---------------------------------------------------------------------------------------------
# The scene


def _texture(rng: random.Random, h: int, w: int, base: np.ndarray, amp: float) -> np.ndarray:
    """Multi-scale noise around a base colour: asphalt, concrete, plaster."""
    nrng = np.random.default_rng(rng.getrandbits(32))
    out = np.zeros((h, w), np.float32)
    for cell, weight in ((64, 0.5), (16, 0.3), (3, 0.2)):
        small = nrng.normal(0, 1, (h // cell + 2, w // cell + 2)).astype(np.float32)
        out += weight * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[:h, :w]
    return base[None, None, :] + amp * out[..., None]


def _scene(rng: random.Random, w: int, h: int) -> np.ndarray:
    img = _texture(rng, h, w, np.array([rng.uniform(60, 200) for _ in range(3)]), 25)
    ground = int(h * rng.uniform(0.45, 0.65))
    img[ground:] = _texture(rng, h - ground, w, np.array([rng.uniform(50, 110)] * 3), 18)
    for _ in range(rng.randint(1, 4)):  # building blocks, pillars, windows
        x0, y0 = rng.randint(-50, w), rng.randint(-50, ground)
        c = np.array([rng.uniform(30, 230) for _ in range(3)])
        cv2.rectangle(img, (x0, y0), (x0 + rng.randint(60, 400), y0 + rng.randint(40, 300)),
                      c.tolist(), -1)  # fmt: skip
    pil = Image.fromarray(cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(pil)
    for _ in range(rng.randint(1, 3)):  # Chinese signs: lettering that is not a plate
        size = rng.randint(18, 44)
        font = _font(*rng.choice(available_faces(CJK_FACES)), size)
        text = rng.choice(SIGN_TEXTS)
        x, y = rng.randint(0, w - 200), rng.randint(0, max(1, ground - size))
        bg = rng.choice(((20, 90, 200), (30, 140, 40), (220, 220, 220), (200, 40, 30)))
        tw = int(draw.textlength(text, font=font))
        draw.rectangle((x - 6, y - 4, x + tw + 6, y + size + 8), fill=bg)
        fill = (20, 20, 20) if sum(bg) > 500 else (245, 245, 245)
        draw.text((x, y), text, font=font, fill=fill)
    return cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)


def _car(rng: random.Random, car_w: int, plate: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """A rounded car front with the (framed) plate on its bumper: (BGR, alpha, plate xy)."""
    car_h = round(car_w * rng.uniform(0.65, 0.8))
    paint = np.array([rng.uniform(10, 240) for _ in range(3)])
    if rng.random() < 0.5:
        paint[:] = rng.uniform(15, 235)  # black, white, silver are the common colours
    img = np.zeros((car_h, car_w, 3), np.float32)
    alpha = np.zeros((car_h, car_w), np.uint8)
    r = car_w // 8
    body_top = round(car_h * rng.uniform(0.3, 0.42))
    cv2.rectangle(alpha, (r, body_top), (car_w - r, car_h - 1), 255, -1)
    cv2.rectangle(alpha, (0, body_top + r), (car_w - 1, car_h - r), 255, -1)
    for cx, cy in ((r, body_top + r), (car_w - r, body_top + r)):
        cv2.circle(alpha, (cx, cy), r, 255, -1)
    cv2.rectangle(alpha, (0, car_h - r), (car_w - 1, car_h - 1), 255, -1)
    roof = np.array([[car_w * 0.22, 0], [car_w * 0.78, 0], [car_w * 0.9, body_top],
                     [car_w * 0.1, body_top]], np.int32)  # fmt: skip
    cv2.fillPoly(alpha, [roof], 255)
    img[:] = paint
    shade = np.linspace(1.2, 0.7, car_h)[:, None, None]
    img *= shade
    cv2.fillPoly(img, [roof], (rng.uniform(20, 90),) * 3)
    # Headlights (slanted), a grille of some pattern, fog lights.
    for sgn in (-1, 1):
        cx = car_w / 2 + sgn * car_w * rng.uniform(0.3, 0.38)
        cy = body_top + car_h * 0.12
        pts = cv2.ellipse2Poly((int(cx), int(cy)), (int(car_w * 0.1), int(car_h * 0.04)),
                               int(sgn * rng.uniform(0, 15)), 0, 360, 20)  # fmt: skip
        cv2.fillPoly(img, [pts], (240, 240, 235))
    gx0, gx1 = int(car_w * rng.uniform(0.28, 0.35)), int(car_w * rng.uniform(0.65, 0.72))
    gy0, gy1 = int(body_top + car_h * 0.08), int(body_top + car_h * 0.24)
    cv2.rectangle(img, (gx0, gy0), (gx1, gy1), (20, 20, 20), -1)
    pattern = rng.choice(("slats", "mesh", "dots"))
    step = max(4, car_w // rng.randint(30, 60))
    for y in range(gy0, gy1, step):
        if pattern == "slats":
            cv2.line(img, (gx0, y), (gx1, y), (150, 150, 150), 1)
        else:
            for x in range(gx0, gx1, step):
                if pattern == "mesh":
                    cv2.rectangle(img, (x, y), (x + step // 2, y + step // 2), (90, 90, 90), 1)
                else:
                    cv2.circle(img, (x, y), 1, (160, 160, 160), -1)
    ph, pw = plate.shape[:2]
    px = (car_w - pw) // 2 + round(rng.uniform(-0.03, 0.03) * car_w)
    py = min(car_h - ph - 2, gy1 + round(car_h * rng.uniform(0.05, 0.12)))
    img[py : py + ph, px : px + pw] = plate
    return np.clip(img, 0, 255).astype(np.uint8), alpha, (px, py)


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    a, b, c = np.radians((yaw, pitch, roll))
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ rx @ ry


def _place(car_w: int, car_h: int, anchor: tuple[float, float], dst: tuple[float, float],
           angles: tuple[float, float, float], f: float) -> np.ndarray:  # fmt: skip
    """Homography of the car layer through a rotated pinhole camera, ``anchor`` -> ``dst``."""
    rot = _rotation(*angles)
    src = np.array([[0, 0], [car_w, 0], [car_w, car_h], [0, car_h]], np.float32)
    dst_pts = []
    for x, y in src - np.array(anchor, np.float32):
        p = rot @ np.array([x, y, 0.0]) + np.array([0, 0, f])
        dst_pts.append((f * p[0] / p[2] + dst[0], f * p[1] / p[2] + dst[1]))
    return cv2.getPerspectiveTransform(src, np.array(dst_pts, np.float32))


def _paste(
    frame: np.ndarray, layer: np.ndarray, alpha: np.ndarray, hom: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The frame with the warped layer over it, and the warped layer."""
    h, w = frame.shape[:2]
    warped = cv2.warpPerspective(layer, hom, (w, h), flags=cv2.INTER_AREA)
    a = cv2.warpPerspective(alpha, hom, (w, h), flags=cv2.INTER_LINEAR)[..., None] / 255.0
    return (frame * (1 - a) + warped * a).astype(np.uint8), warped


def _degrade(
    img: np.ndarray, quads: list[np.ndarray], rng: random.Random, hard: bool
) -> np.ndarray:
    h, w = img.shape[:2]
    out = img.astype(np.float32)
    pw = min((float(np.linalg.norm(q[1] - q[0])) for q in quads), default=200.0)
    for q in quads:
        if rng.random() < (0.4 if hard else 0.15):  # reflection: a bright soft band across it
            c = q.mean(axis=0)
            ang = rng.uniform(0, np.pi)
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            d = (xx - c[0]) * np.cos(ang) + (yy - c[1]) * np.sin(ang) - rng.uniform(-0.3, 0.3) * pw
            band = np.exp(-(d**2) / (2 * (pw * rng.uniform(0.05, 0.15)) ** 2))
            box = np.zeros((h, w), np.float32)
            cv2.fillConvexPoly(box, q.astype(np.int32), 1.0)
            out += (rng.uniform(50, 120 if hard else 70) * band * box)[..., None]
        if hard and rng.random() < 0.25:  # occlusion at an end or the bottom edge
            t = q.astype(np.float32)
            f = rng.uniform(0.03, 0.07)
            if rng.random() < 0.5:
                poly = np.array([t[0], t[0] + (t[1] - t[0]) * f, t[3] + (t[2] - t[3]) * f, t[3]])
            else:
                up = (t[0] - t[3]) * rng.uniform(0.1, 0.18)
                a, b = t[3] + (t[2] - t[3]) * 0.2, t[3] + (t[2] - t[3]) * 0.7
                poly = np.array([a, b, b + up, a + up])
            cv2.fillConvexPoly(out, poly.astype(np.int32), (rng.uniform(0, 90),) * 3)
        if hard and rng.random() < 0.3:  # dust and grime: darker blotchy texture
            box = np.zeros((h, w), np.float32)
            cv2.fillConvexPoly(box, q.astype(np.int32), 1.0)
            grime = np.clip(_texture(rng, h, w, np.array([0.0]), 1.0)[..., 0], 0, None)
            out *= (1 - 0.3 * np.clip(grime, 0, 1) * box)[..., None]
    # Light: low light darkens everything (the plate keeps some of its retro-reflection).
    if rng.random() < (0.45 if hard else 0.1):
        k = rng.uniform(0.2, 0.45) if hard else rng.uniform(0.5, 0.7)
        out *= k
        for q in quads:
            box = np.zeros((h, w), np.float32)
            cv2.fillConvexPoly(box, q.astype(np.int32), 1.0)
            box = cv2.GaussianBlur(box, (0, 0), 4)
            out *= (1 + box * (rng.uniform(0.4, 0.8) / k - 1))[..., None]
    cast = np.array([rng.uniform(0.85, 1.15) for _ in range(3)], np.float32)
    out *= cast
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    vign = 1 - rng.uniform(0, 0.35) * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2) * 2
    out = np.clip(out * vign[..., None], 0, 255).astype(np.uint8)
    # Optics and motion, bounded by the smallest plate so that a person still reads it.
    if hard and rng.random() < 0.4:
        n = int(max(3, min(rng.randint(4, 11), pw / 30)))
        kern = np.zeros((n, n), np.float32)
        ang = rng.uniform(0, 180)
        cv2.line(kern, (0, n // 2), (n - 1, n // 2), 1.0, 1)
        rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), ang, 1.0)
        kern = cv2.warpAffine(kern, rot, (n, n))
        out = cv2.filter2D(out, -1, kern / max(kern.sum(), 1e-6))
    elif rng.random() < 0.4:
        r = int(max(1, min(rng.randint(1, 3 if hard else 2), pw / 60)))
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)).astype(
            np.float32
        )
        out = cv2.filter2D(out, -1, disk / disk.sum())
    if rng.random() < (0.3 if hard else 0.1):  # a low-resolution sensor upscaled
        f = rng.uniform(0.55, 0.8)
        small = cv2.resize(out, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    # Shot noise grows in the dark; read noise everywhere.
    nrng = np.random.default_rng(rng.getrandbits(32))
    f32 = out.astype(np.float32)
    sigma = rng.uniform(2, 5) if not hard else rng.uniform(3, 9)
    f32 += nrng.normal(0, 1, f32.shape) * (sigma + 0.04 * np.sqrt(f32) * sigma)
    out = np.clip(f32, 0, 255).astype(np.uint8)
    quality = rng.randint(65, 95) if not hard else rng.randint(30, 70)
    _ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def render_photo(
    plates: list[tuple[str, PlateColor]],
    *,
    seed: int,
    size: tuple[int, int] = (1280, 720),
    hard: bool = False,
) -> tuple[np.ndarray, list[PlateTruth]]:
    """A photo of the car(s) carrying ``plates`` (the first one nearest, at the gate), with
    sometimes a plate-less car behind. Returns the BGR frame and every plate's truth."""
    rng = random.Random(seed)
    w, h = size
    frame = _scene(rng, w, h)
    if rng.random() < 0.4:  # a car further back, its plate hidden by the one in front
        back_w = int(w * rng.uniform(0.15, 0.3))
        car, alpha, _ = _car(rng, back_w, np.full((8, 8, 3), 30, np.uint8))
        x, y = rng.uniform(0, w - back_w), rng.uniform(h * 0.2, h * 0.45)
        frame, _ = _paste(frame, car, alpha, np.float32([[1, 0, x], [0, 1, y], [0, 0, 1]]))
    truths: list[PlateTruth] = []
    quads: list[np.ndarray] = []
    layers: list[np.ndarray] = []
    n = len(plates)
    for i, (text, color) in enumerate(plates):
        slot = w / n
        if hard:
            pw = rng.uniform(90, 150) if rng.random() < 0.5 else rng.uniform(150, 380)
        else:
            pw = rng.uniform(140, 380)
        if i:  # a second car, further away: its plate smaller, still legible (>= 90 px)
            pw = max(90.0, pw * rng.uniform(0.55, 0.9))
        pw = min(pw, slot * (0.4 if i == 0 else 0.35))
        plate = draw_plate(text, color, rng)
        framed, (ox, oy) = with_frame(plate, rng)
        k = pw / plate.shape[1]  # layer px per plate-image px
        framed = cv2.resize(framed, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        ox, oy = ox * k, oy * k
        plate_wh = (plate.shape[1] * k, plate.shape[0] * k)
        car_w = int(pw * rng.uniform(3.3, 4.3))
        car, alpha, (px, py) = _car(rng, car_w, framed)
        x0, y0 = px + ox, py + oy
        anchor = (x0 + plate_wh[0] / 2, y0 + plate_wh[1] / 2)
        yaw_lim = 30.0 if hard else 10.0
        angles = (rng.uniform(-yaw_lim, yaw_lim), rng.uniform(-5, 20 if hard else 10),
                  rng.uniform(-10 if hard else -4, 10 if hard else 4))  # fmt: skip
        margin = pw * 0.7
        cx = rng.uniform(slot * i + margin, max(slot * i + margin + 1, slot * (i + 1) - margin))
        cy = rng.uniform(h * 0.45, h * 0.85) if i == 0 else rng.uniform(h * 0.35, h * 0.6)
        hom = _place(car.shape[1], car.shape[0], anchor, (cx, cy), angles, f=1.1 * w)
        frame, warped = _paste(frame, car, alpha, hom)
        rect = np.float32([[x0, y0], [x0 + plate_wh[0], y0], [x0 + plate_wh[0], y0 + plate_wh[1]],
                           [x0, y0 + plate_wh[1]]])  # fmt: skip
        quad = cv2.perspectiveTransform(rect[None], hom)[0]
        quads.append(quad)
        layers.append(warped)
        bx0, by0 = np.floor(quad.min(axis=0)).astype(int)
        bx1, by1 = np.ceil(quad.max(axis=0)).astype(int)
        bx0, by0 = max(0, int(bx0)), max(0, int(by0))
        box = (bx0, by0, int(min(w, bx1) - bx0), int(min(h, by1) - by0))
        truths.append(PlateTruth(text, color, tuple((float(a), float(b)) for a, b in quad), box))
    # Cars side by side may overlap, but never over another car's plate.
    for quad, layer in zip(quads, layers, strict=True):
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, quad.astype(np.int32), 255)
        frame[mask > 0] = layer[mask > 0]
    return _degrade(frame, quads, rng, hard), truths


def generate_photo_dataset(
    n: int, *, seed: int, size: tuple[int, int] = (1280, 720)
) -> Iterator[tuple[np.ndarray, list[PlateTruth], dict[str, object]]]:
    """``n`` photos; odd-numbered ones hard; about one in eight carries a second plate."""
    for i in range(n):
        rng = random.Random(seed * 7_368_787 + i * 31)
        kind = PHOTO_TYPES[(i // 2) % 5]
        hard = i % 2 == 1
        kinds = [kind] + ([rng.choice(PHOTO_TYPES)] if rng.random() < 0.125 else [])
        plates = [(photo_plate_text(rng, k), k) for k in kinds]
        frame_seed = rng.getrandbits(40)
        frame, truths = render_photo(plates, seed=frame_seed, size=size, hard=hard)
        yield frame, truths, {"index": i, "difficulty": "hard" if hard else "easy"}
