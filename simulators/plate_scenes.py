"""Scene parts for synthetic gate-camera frames: backgrounds, a car front, light and damage.

Pure image drawing with OpenCV, deterministic from the ``random.Random`` passed in. The
plate itself and the frame assembly are in ``simulators/plates.py``.
"""

from __future__ import annotations

import random

import cv2
import numpy as np

# Car paint in BGR, including blue, yellow and green bodies so that a localiser keyed on
# plate colours alone meets look-alikes.
CAR_PAINTS = (
    (235, 235, 235), (30, 30, 30), (180, 180, 175), (40, 40, 170), (150, 80, 20),
    (90, 40, 10), (40, 190, 230), (60, 130, 40), (120, 120, 125), (210, 200, 190),
)  # fmt: skip


def background(rng: random.Random, w: int, h: int) -> np.ndarray:
    """Road / wall / car-park backdrop with clutter (signs, stripes, text-like marks)."""
    kind = rng.choice(("road", "wall", "garage"))
    img = np.zeros((h, w, 3), np.uint8)
    if kind == "road":
        sky = np.array([rng.randint(150, 230), rng.randint(120, 200), rng.randint(90, 160)])
        road = np.array([rng.randint(70, 120)] * 3)
        horizon = int(h * rng.uniform(0.25, 0.45))
        img[:horizon] = sky
        ramp = np.linspace(0.8, 1.2, h - horizon)[:, None, None]
        img[horizon:] = np.clip(road * ramp, 0, 255).astype(np.uint8)
        for _ in range(rng.randint(2, 6)):  # lane marks
            x = rng.randint(0, w)
            y = rng.randint(horizon, h)
            cv2.line(img, (x, y), (x + rng.randint(-200, 200), y + rng.randint(20, 120)),
                     (220, 220, 220), rng.randint(4, 14))  # fmt: skip
    elif kind == "wall":
        base = np.array([rng.randint(90, 210) for _ in range(3)])
        img[:] = base
        for _ in range(rng.randint(4, 12)):  # windows, panels
            x, y = rng.randint(0, w), rng.randint(0, h)
            c = tuple(int(v) for v in np.clip(base + rng.randint(-70, 40), 0, 255))
            cv2.rectangle(img, (x, y), (x + rng.randint(40, 260), y + rng.randint(30, 200)), c, -1)
    else:
        img[:] = rng.randint(30, 70)
        for _ in range(rng.randint(3, 8)):  # pillars and ceiling lights
            x = rng.randint(0, w)
            cv2.rectangle(
                img, (x, 0), (x + rng.randint(30, 90), h), (rng.randint(80, 140),) * 3, -1
            )
        for _ in range(rng.randint(2, 6)):
            x, y = rng.randint(0, w), rng.randint(0, h // 3)
            cv2.rectangle(img, (x, y), (x + rng.randint(60, 200), y + 10), (250, 250, 250), -1)
    _clutter(img, rng)
    noise = np.asarray(np.random.default_rng(rng.getrandbits(32)).normal(0, 6, img.shape))
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def _clutter(img: np.ndarray, rng: random.Random) -> None:
    """Signs in plate colours with writing on them, and random text: look-alikes."""
    h, w = img.shape[:2]
    for _ in range(rng.randint(1, 4)):
        sw, sh = rng.randint(60, 260), rng.randint(30, 140)
        x, y = rng.randint(0, max(1, w - sw)), rng.randint(0, max(1, h - sh))
        colour = rng.choice(((170, 80, 10), (20, 190, 230), (60, 160, 60), (240, 240, 240)))
        cv2.rectangle(img, (x, y), (x + sw, y + sh), colour, -1)
        ink = (255, 255, 255) if colour[0] > 100 and colour[1] < 100 else (20, 20, 20)
        text = "".join(rng.choice("PARKING EXIT 0123456789") for _ in range(rng.randint(3, 8)))
        scale = max(0.4, sh / 60)
        cv2.putText(img, text, (x + 4, y + sh - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, 2)


def draw_car(
    rng: random.Random, w: int, plate_wh: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """A car seen from the front, ``w`` px wide: (BGR, alpha mask, plate top-left).

    The plate slot is centred on the bumper, sized ``plate_wh``.
    """
    h = int(w * rng.uniform(0.72, 0.85))
    paint = np.array(rng.choice(CAR_PAINTS), np.float64) + [rng.randint(-15, 15) for _ in range(3)]
    paint = np.clip(paint, 0, 255)
    car = np.zeros((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    roof_y = int(h * 0.02)
    belt_y = int(h * rng.uniform(0.36, 0.44))
    # Windscreen (trapezoid) and body.
    glass = np.array([[w * 0.2, roof_y], [w * 0.8, roof_y], [w * 0.92, belt_y], [w * 0.08, belt_y]])
    body = np.array([[w * 0.05, belt_y - 10], [w * 0.95, belt_y - 10], [w, h * 0.9], [0, h * 0.9]])
    cv2.fillPoly(car, [body.astype(np.int32)], paint.tolist())
    cv2.fillPoly(alpha, [body.astype(np.int32)], 255)
    shade = np.linspace(1.15, 0.75, h)[:, None, None]
    car = np.clip(car * shade, 0, 255).astype(np.uint8)
    cv2.fillPoly(car, [glass.astype(np.int32)], (rng.randint(30, 70),) * 3)
    cv2.fillPoly(alpha, [glass.astype(np.int32)], 255)
    # Wheels.
    for x0 in (0.03, 0.82):
        x = int(w * x0)
        cv2.rectangle(car, (x, int(h * 0.82)), (x + int(w * 0.15), h - 1), (15, 15, 15), -1)
        cv2.rectangle(alpha, (x, int(h * 0.82)), (x + int(w * 0.15), h - 1), 255, -1)
    # Headlights.
    ly = int(h * 0.5)
    for cx in (0.16, 0.84):
        cv2.ellipse(car, (int(w * cx), ly), (int(w * 0.09), int(h * 0.05)), 0, 0, 360,
                    (225, 230, 230), -1, cv2.LINE_AA)  # fmt: skip
    # Grille: horizontal slats between the lights (real grilles are a plate look-alike too).
    gx0, gx1 = int(w * 0.3), int(w * 0.7)
    gy0, gy1 = int(h * 0.46), int(h * 0.6)
    cv2.rectangle(car, (gx0, gy0), (gx1, gy1), (25, 25, 25), -1)
    n = rng.randint(3, 7)
    for i in range(1, n):
        y = gy0 + (gy1 - gy0) * i // n
        cv2.line(car, (gx0, y), (gx1, y), (140, 140, 140), max(1, w // 200))
    if rng.random() < 0.5:  # mesh grille
        for x in range(gx0, gx1, max(6, w // 40)):
            cv2.line(car, (x, gy0), (x, gy1), (110, 110, 110), 1)
    # Bumper line and the plate slot below the grille.
    pw, ph = plate_wh
    py = int(h * rng.uniform(0.64, 0.7))
    cv2.line(car, (int(w * 0.04), py - 8), (int(w * 0.96), py - 8), (paint * 0.6).tolist(), 3)
    px = (w - pw) // 2
    cv2.rectangle(car, (px - 4, py - 4), (px + pw + 4, py + ph + 4), (20, 20, 20), -1)
    return car, alpha, (px, py)


def apply_conditions(
    img: np.ndarray, rng: random.Random, quads: list[np.ndarray], hard: bool
) -> tuple[np.ndarray, dict[str, object]]:
    """Light, glare, dirt, occlusion, blur, noise and JPEG, as a camera would deliver."""
    info: dict[str, object] = {}
    out = img.astype(np.float32)
    light = rng.choices(("day", "dusk", "night"), weights=(2, 1, 1) if hard else (1, 0, 0))[0]
    info["light"] = light
    if light != "day":
        k = rng.uniform(0.35, 0.55) if light == "dusk" else rng.uniform(0.15, 0.3)
        tint = np.array([1.1, 0.95, 0.9] if light == "night" else [0.9, 0.95, 1.1], np.float32)
        out *= k * tint
        for q in quads:  # the plate light / IR illuminator keeps the plate readable
            mask = np.zeros(img.shape[:2], np.float32)
            cv2.fillConvexPoly(mask, q.astype(np.int32), 1.0)
            mask = cv2.GaussianBlur(mask, (0, 0), 3)[..., None]
            boost = rng.uniform(0.55, 0.85) / k
            out = out * (1 + mask * (boost - 1))
    if hard and (light == "night" or rng.random() < 0.3):  # headlight / sun glare
        info["glare"] = True
        for q in quads:
            c = q.mean(axis=0)
            pw = np.linalg.norm(q[1] - q[0])
            gx = c[0] + rng.choice((-1, 1)) * pw * rng.uniform(0.7, 1.4)
            gy = c[1] + rng.uniform(-0.5, 0.3) * pw
            yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]].astype(np.float32)
            r2 = ((xx - gx) ** 2 + (yy - gy) ** 2) / (pw * rng.uniform(0.25, 0.45)) ** 2
            out += (rng.uniform(150, 260) * np.exp(-r2))[..., None]
    out = np.clip(out, 0, 255)
    if hard:
        for q in quads:
            if rng.random() < 0.35:
                info["dirt"] = True
                _dirt(out, q, rng)
            if rng.random() < 0.2:
                info["occlusion"] = True
                _occlude(out, q, rng)
    out = out.astype(np.uint8)
    # Blur is bounded by the smallest plate so that every plate stays readable by a person:
    # at most ~1/150 of its width (Gaussian sigma) or ~1/35 (motion streak).
    pw = min((float(np.linalg.norm(q[1] - q[0])) for q in quads), default=200.0)
    blur = rng.uniform(0, 0.6) if not hard else rng.choice((0.0, rng.uniform(0.6, 1.6)))
    blur = min(blur, max(0.5, pw / 150))
    if hard and rng.random() < 0.25:
        n = max(3, min(rng.randint(5, 9), int(pw / 35)))  # a car rolling to the barrier
        kern = np.zeros((n, n), np.float32)
        kern[n // 2, :] = 1.0 / n
        out = cv2.filter2D(out, -1, kern)
        info["motion_blur"] = n
    elif blur > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), blur)
        info["blur"] = round(blur, 2)
    sigma = rng.uniform(2, 5) if not hard else rng.uniform(4, 12)
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, sigma, out.shape)
    out = np.clip(out + noise, 0, 255).astype(np.uint8)
    quality = rng.randint(75, 95) if not hard else rng.randint(45, 80)
    _ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    info["jpeg"] = quality
    return cv2.imdecode(buf, cv2.IMREAD_COLOR), info


def _dirt(img: np.ndarray, quad: np.ndarray, rng: random.Random) -> None:
    """Brownish mud splashes on the plate, translucent so the characters still show."""
    pw = float(np.linalg.norm(quad[1] - quad[0]))
    mask = np.zeros(img.shape[:2], np.float32)
    for _ in range(rng.randint(2, 6)):
        t, s = rng.random(), rng.random()
        top = quad[0] + (quad[1] - quad[0]) * t
        bottom = quad[3] + (quad[2] - quad[3]) * t
        p = top + (bottom - top) * s
        r = max(2, int(pw * rng.uniform(0.03, 0.09)))
        cv2.circle(mask, (int(p[0]), int(p[1])), r, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, pw * 0.01))[..., None] * rng.uniform(0.3, 0.55)
    mud = np.array([40, 70, 95], np.float32)
    img[:] = img * (1 - mask) + mud * mask


def _occlude(img: np.ndarray, quad: np.ndarray, rng: random.Random) -> None:
    """Something in front of an edge of the plate: a tow bar, a leaf, a bracket."""
    side = rng.choice(("left", "right", "bottom"))
    q = quad.astype(np.float32)
    if side == "bottom":  # lower ~20% of the plate height over part of the width
        t0, t1 = sorted((rng.uniform(0.1, 0.5), rng.uniform(0.5, 0.9)))
        a = q[3] + (q[2] - q[3]) * t0
        b = q[3] + (q[2] - q[3]) * t1
        up = (q[0] - q[3]) * rng.uniform(0.12, 0.2)
        poly = np.array([a, b, b + up, a + up])
    else:  # a narrow strip over the plate's end, not covering a whole character
        f = rng.uniform(0.02, 0.05)
        if side == "left":
            poly = np.array([q[0], q[0] + (q[1] - q[0]) * f, q[3] + (q[2] - q[3]) * f, q[3]])
        else:
            poly = np.array([q[1] - (q[1] - q[0]) * f, q[1], q[2], q[2] - (q[2] - q[3]) * f])
    colour = (rng.randint(10, 80),) * 3
    cv2.fillConvexPoly(img, poly.astype(np.int32), colour, cv2.LINE_AA)
