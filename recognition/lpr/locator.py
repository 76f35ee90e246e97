"""Find plate candidates in a full camera frame and rectify them.

Two cheap cues on downscaled copies of the frame, merged:
- dense vertical strokes (the characters), closed into blobs: finds every plate type;
- plate background colour ranges (blue, yellow, green) that real plates have, closed over
  the characters: keeps low-contrast, night and blurred plates.
Blobs are kept by size and aspect ratio, rectified with their rotated rectangle (or their four
corners when the outline is a clean quadrilateral) and ranked by how much the crop looks like a
row of characters. Reading (and the final yes/no) is the recogniser's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

CROP_W, CROP_H = 168, 48
# (hue lo, hue hi, sat min, val min) in OpenCV HSV (hue 0..180): generous ranges, because
# real plates fade, get dirty and are lit by yellowish or bluish light.
COLOR_RANGES = {
    "blue": (98, 128, 80, 40),
    "yellow": (12, 36, 90, 70),
    "green": (36, 88, 45, 60),
}
PLATE_ASPECT = 440 / 140
# Margins around a plate outline when cropping: generous to find the characters, small and
# even to read them (PP-OCR was trained on text lines with a little background around).
FIND_MARGIN = (0.08, 0.2)
READ_MARGIN = (0.04, 0.1)
# The crop the recogniser reads: cut into the bare bands above and below the characters so
# that they fill most of the model's 48 px height, as the text lines it was trained on do
# (GA 36: characters 90 of the plate's 140 mm). Cubic interpolation: small plates are
# enlarged here, and their strokes stay sharper than with a linear one.
TEXT_MARGIN = (0.03, -0.1)
TEXT_W = 168
# Outline refinements at most per candidate.
SETTLE_STEPS = 3
# Where the outline's left edge falls in a FIND_MARGIN crop: a row beyond it ran past it.
_OUTLINE_X = CROP_W * FIND_MARGIN[0] / (1 + 2 * FIND_MARGIN[0])
# Where the plate itself lies in a FIND_MARGIN crop (rows, columns).
_INNER = np.s_[CROP_H // 7 : CROP_H - CROP_H // 7, CROP_W // 14 : CROP_W - CROP_W // 14]


@dataclass
class Candidate:
    quad: np.ndarray  # 4x2 float32 TL, TR, BR, BL in frame pixels (the plate outline guess)
    source: str  # "edges" or a colour name
    crop: np.ndarray | None = None  # rectified BGR crop CROP_W x CROP_H with margin
    score: float = 0.0  # character-row likeness of the crop

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Axis-aligned x, y, w, h around the quad."""
        x0, y0 = np.floor(self.quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(self.quad.max(axis=0)).astype(int)
        return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def order_corners(pts: np.ndarray) -> np.ndarray:
    """TL, TR, BR, BL for four points of a (roughly) horizontal plate."""
    pts = pts.astype(np.float32).reshape(4, 2)
    by_x = pts[np.argsort(pts[:, 0])]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1])]
    tr, br = right[np.argsort(right[:, 1])]
    return np.array([tl, tr, br, bl], np.float32)


def _rect_quad(rect: tuple[Any, ...]) -> np.ndarray | None:
    """Corners of a minAreaRect, normalised so that the long side is horizontal."""
    (cx, cy), (w, h), angle = rect
    if w < h:
        w, h, angle = h, w, angle + 90
    while angle > 45:
        angle -= 180 if angle > 90 else 90
        if abs(angle) <= 45:
            break
    if abs(angle) > 30 or h < 1:
        return None
    return order_corners(cv2.boxPoints(((cx, cy), (w, h), angle)))


def _blobs(mask: np.ndarray, scale: float, source: str, min_w: float) -> list[Candidate]:
    """Plate-shaped blobs of a binary mask at ``scale``, as frame-pixel candidates."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        if len(c) < 4:
            continue
        rect = cv2.minAreaRect(c)
        w, h = max(rect[1]), min(rect[1])
        if w < min_w or h < 4 or not 1.6 <= w / h <= 7.5:
            continue
        if cv2.contourArea(c) < 0.45 * w * h:
            continue
        quad = _rect_quad(rect)
        if quad is None:
            continue
        out.append(Candidate(quad / scale, source))
    return out


def _edge_masks(gray: np.ndarray, kx: int) -> list[np.ndarray]:
    """Dense vertical strokes closed horizontally into blobs, at two stroke thresholds: the
    lower keeps faint plates, the higher keeps a plate apart from a busy grille or glare."""
    gx = cv2.Sobel(gray, cv2.CV_16S, 1, 0, ksize=3)
    gx = cv2.convertScaleAbs(gx)
    mean, std = cv2.meanStdDev(gx)
    thr = min(120.0, max(30.0, float(mean[0, 0] + 2.0 * std[0, 0])))
    close = cv2.getStructuringElement(cv2.MORPH_RECT, (kx, 3))
    opening = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 3))
    masks = []
    for t in (thr, min(200.0, thr * 1.8)):
        _, bw = cv2.threshold(gx, t, 255, cv2.THRESH_BINARY)
        bw = cv2.morphologyEx(bw, cv2.MORPH_CLOSE, close)
        masks.append(cv2.morphologyEx(bw, cv2.MORPH_OPEN, opening))
    return masks


def _color_masks(hsv: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Plate-colour masks, each at a loose and a strict saturation (the strict one separates
    a plate from a car body or a tinted night scene of a similar hue)."""
    masks = []
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (7, 3))
    opening = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
    for name, (h0, h1, smin, vmin) in COLOR_RANGES.items():
        for s_lo, v_lo in ((smin, vmin), (min(255, smin + 70), min(255, vmin + 50))):
            m = cv2.inRange(hsv, (h0, s_lo, v_lo), (h1, 255, 255))
            m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
            masks.append((name, cv2.morphologyEx(m, cv2.MORPH_OPEN, opening)))
    return masks


def find_candidates(frame_bgr: np.ndarray) -> list[Candidate]:
    """Plate-shaped regions of the frame (unranked, may overlap)."""
    _h, w = frame_bgr.shape[:2]
    # Work on a copy at most half size (640 px wide for 720p): an 80 px plate stays >= 40 px.
    base = min(1.0, max(640.0 / max(w, 1), 0.5))
    small = (
        cv2.resize(frame_bgr, None, fx=base, fy=base, interpolation=cv2.INTER_AREA)
        if base < 1.0
        else frame_bgr
    )
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    cands: list[Candidate] = []
    for mask in _edge_masks(gray, 9):
        cands += _blobs(mask, base, "edges", 28)
    half = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    for mask in _edge_masks(half, 9):
        cands += _blobs(mask, base * 0.5, "edges", 40)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    for name, mask in _color_masks(hsv):
        cands += _blobs(mask, base, name, 28)
    return cands


def _grown(quad: np.ndarray, margin: tuple[float, float]) -> np.ndarray:
    """The quad grown by ``margin`` (fractions of its width, height) on every side."""
    tl, tr, br, bl = quad
    ux = (tr - tl + br - bl) / 2
    uy = (bl - tl + br - tr) / 2
    mx, my = ux * margin[0], uy * margin[1]
    return np.array([tl - mx - my, tr + mx - my, br + mx + my, bl - mx + my], np.float32)


def rectify(
    frame_bgr: np.ndarray,
    quad: np.ndarray,
    margin: tuple[float, float] = (0.05, 0.14),
    size: tuple[int, int] = (CROP_W, CROP_H),
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Warp the plate quad (grown by ``margin`` of its width/height) to ``size`` (w, h)."""
    src = _grown(quad, margin)
    w, h = size
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(
        frame_bgr, m, (w, h), flags=interpolation, borderMode=cv2.BORDER_REPLICATE
    )


def text_crop(frame_bgr: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The character row of a plate outline, TEXT_W x 48, for the recogniser."""
    return rectify(frame_bgr, quad, TEXT_MARGIN, (TEXT_W, CROP_H), cv2.INTER_CUBIC)


def analyse_row(crop_bgr: np.ndarray) -> tuple[float, tuple[float, float, float, float] | None]:
    """How much a crop looks like a row of 7-8 characters, and where that row is.

    Counts character-sized blobs of either polarity in the middle band (0..~8, weighted by
    how much of the width they spread over) and returns their extent (x0, y0, x1, y1) in
    crop pixels when there are enough of them to trust it.
    """
    gray = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    # The threshold comes from the plate's own area (glare or a dark body around it would
    # otherwise take Otsu's split), stretched over that area's range.
    inner = gray[_INNER]
    lo, hi = _percentiles(inner, 0.01, 0.99)
    gain = 255.0 / max(float(hi - lo), 1.0)
    gray = cv2.convertScaleAbs(gray, alpha=gain, beta=-float(lo) * gain)
    inner = gray[_INNER]
    t, _ = cv2.threshold(inner, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    _, bw = cv2.threshold(gray, t, 255, cv2.THRESH_BINARY)
    best, extent = 0.0, None
    for img in (bw, 255 - bw):
        _, _, stats, _ = cv2.connectedComponentsWithStats(img, connectivity=8)
        st = stats[1:]
        hs, ws = st[:, cv2.CC_STAT_HEIGHT], st[:, cv2.CC_STAT_WIDTH]
        ys = st[:, cv2.CC_STAT_TOP] + hs / 2
        ok = (hs >= 0.22 * CROP_H) & (hs <= 0.92 * CROP_H) & (ws <= 0.2 * CROP_W) & (ws >= 2)
        ok &= np.abs(ys - CROP_H / 2) < 0.25 * CROP_H
        chars = st[ok]
        if len(chars) >= 3:  # a row's characters share one height
            mh = _median(chars[:, cv2.CC_STAT_HEIGHT])
            chars = chars[np.abs(chars[:, cv2.CC_STAT_HEIGHT] - mh) <= 0.25 * mh]
        count = float(len(chars))
        # Plate characters are about a tenth of the plate wide; the thin uprights of a grille
        # or railing are not (a narrow "1" is fine as long as most are wide).
        if count and _median(chars[:, cv2.CC_STAT_WIDTH]) < 0.045 * CROP_W:
            count *= 0.4
        if count >= 3:  # characters spread over most of the width, not bunched up
            x0 = chars[:, cv2.CC_STAT_LEFT].min()
            x1 = (chars[:, cv2.CC_STAT_LEFT] + chars[:, cv2.CC_STAT_WIDTH]).max()
            count *= min(1.0, (x1 - x0) / CROP_W / 0.6)
        if count > best:
            best = count
            extent = _row_extent(st, chars) if count >= 4.5 else None
    return best, extent


def _median(values: np.ndarray) -> float:
    """np.median of a handful of blob sizes, without its per-call overhead."""
    v = sorted(values.tolist())
    n = len(v)
    return float(v[n // 2]) if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def _percentiles(gray: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Two percentiles of a uint8 image from its histogram (np.percentile sorts: slower)."""
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel().cumsum()
    n = hist[-1]
    return float(np.searchsorted(hist, lo * n)), float(np.searchsorted(hist, hi * n))


def _row_extent(stats: np.ndarray, chars: np.ndarray) -> tuple[float, float, float, float]:
    """Extent of the character row: the character-sized blobs, grown by the smaller pieces
    beside them in the same band (a Chinese character is often several pieces)."""
    tops = chars[:, cv2.CC_STAT_TOP]
    y0 = _median(tops)
    y1 = _median(tops + chars[:, cv2.CC_STAT_HEIGHT])
    rh = y1 - y0
    x0 = float(chars[:, cv2.CC_STAT_LEFT].min())
    x1 = float((chars[:, cv2.CC_STAT_LEFT] + chars[:, cv2.CC_STAT_WIDTH]).max())
    cw = _median(chars[:, cv2.CC_STAT_WIDTH])
    t, h = stats[:, cv2.CC_STAT_TOP], stats[:, cv2.CC_STAT_HEIGHT]
    w = stats[:, cv2.CC_STAT_WIDTH]
    piece = (t >= y0 - 0.15 * rh) & (t + h <= y1 + 0.15 * rh) & (h >= 0.15 * rh)
    piece &= w <= 0.2 * CROP_W
    pieces = stats[piece]
    grown = True
    while grown:
        grown = False
        for p in pieces:
            pl, pr = float(p[cv2.CC_STAT_LEFT]), float(p[cv2.CC_STAT_LEFT] + p[cv2.CC_STAT_WIDTH])
            if pl < x0 and x0 - pr <= 0.9 * cw:
                x0, grown = pl, True
            if pr > x1 and pl - x1 <= 0.9 * cw:
                x1, grown = pr, True
    return x0, y0, x1, y1


def refine_quad(
    quad: np.ndarray, extent: tuple[float, float, float, float], margin: tuple[float, float]
) -> np.ndarray | None:
    """Plate outline from the character row found in a crop of ``quad``.

    The characters span 409 of 440 mm across and 90 of 140 mm down (GA 36); the row may miss
    a stroke or two, so the plate is grown from it by those proportions.
    """
    x0, y0, x1, y1 = extent
    rw, rh = x1 - x0, y1 - y0
    if rw < 0.45 * CROP_W or rh < 0.3 * CROP_H:
        return None
    px0, px1 = x0 - rw * 16 / 409, x1 + rw * 16 / 409
    py0, py1 = y0 - rh * 25 / 90, y1 + rh * 25 / 90
    # The row can miss a faint Chinese character at either end, while the candidate's own
    # outline (plate colour, or the strokes blob) usually has it: take the union across,
    # unless that makes the plate far wider than a plate is for its height.
    src = _grown(quad, margin)
    qw = float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    qh = float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    sx = CROP_W / max(qw * (1 + 2 * margin[0]), 1e-3)  # crop px per frame px
    sy = CROP_H / max(qh * (1 + 2 * margin[1]), 1e-3)
    ox0 = CROP_W * margin[0] / (1 + 2 * margin[0])
    ux0, ux1 = min(px0, ox0), max(px1, CROP_W - ox0)
    plate_h = (py1 - py0) / sy
    if (ux1 - ux0) / sx <= 3.75 * plate_h:
        px0, px1 = ux0, ux1
    elif (px1 - px0) / sx < 2.9 * plate_h:
        # Too short on its own and too long with the outline: grow the row to a plate width.
        grow = (2.9 * plate_h * sx - (px1 - px0)) / 2
        px0, px1 = px0 - grow, px1 + grow
    dst = np.array([[0, 0], [CROP_W - 1, 0], [CROP_W - 1, CROP_H - 1], [0, CROP_H - 1]], np.float32)
    inv = cv2.getPerspectiveTransform(dst, src)
    pts = np.array([[[px0, py0], [px1, py0], [px1, py1], [px0, py1]]], np.float32)
    corners: np.ndarray = cv2.perspectiveTransform(pts, inv)[0]
    return corners


def _intersection(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    """Area where two x, y, w, h boxes overlap."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    inter = _intersection(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def covered(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """How much of the smaller of two boxes lies inside the other (0..1)."""
    smaller = min(a[2] * a[3], b[2] * b[3])
    return _intersection(a, b) / smaller if smaller else 0.0


def ranked_candidates(frame_bgr: np.ndarray) -> list[Candidate]:
    """Candidates with their rectified crops, best first, near-duplicates merged."""
    raw = find_candidates(frame_bgr)
    # The same blob comes from several masks: analyse each region once (colour ones first,
    # their outline is the plate's own edge). Only near-identical outlines are merged before
    # scoring: a looser outline of the same plate may score badly where a tighter one does not.
    raw.sort(key=lambda c: c.source == "edges")
    cands = _distinct(raw, 0.9)
    for c in cands:
        _settle(frame_bgr, c)
    cands.sort(key=lambda c: c.score, reverse=True)
    return _distinct(cands, 0.6)


def _distinct(cands: list[Candidate], max_iou: float) -> list[Candidate]:
    """The candidates in order, leaving out any that overlaps an earlier kept one."""
    kept: list[Candidate] = []
    boxes: list[tuple[int, int, int, int]] = []
    for c in cands:
        box = c.box
        if all(iou(box, k) < max_iou for k in boxes):
            kept.append(c)
            boxes.append(box)
    return kept


def _settle(frame_bgr: np.ndarray, c: Candidate) -> None:
    """Score a candidate, move its outline onto the character row it holds, crop it."""
    bonus = 0.5 if c.source != "edges" else 0.0
    for attempt in range(SETTLE_STEPS):
        crop = rectify(frame_bgr, c.quad, FIND_MARGIN)
        score, extent = analyse_row(crop)
        # A refined outline frames the row better: its score counts when higher.
        c.score = max(c.score, score + bonus) if attempt else score + bonus
        better = refine_quad(c.quad, extent, FIND_MARGIN) if extent else None
        if better is None:
            break
        c.quad = better
        assert extent is not None  # refine_quad found nothing without one
        # A row running into the crop's edge was probably cut: look again around it (an
        # outline that missed two characters needs two more looks); else a last score.
        if extent[0] > _OUTLINE_X and extent[2] < CROP_W - _OUTLINE_X:
            if attempt == 0:
                score, _ = analyse_row(rectify(frame_bgr, c.quad, FIND_MARGIN))
                c.score = max(c.score, score + bonus)
            break
    c.crop = rectify(frame_bgr, c.quad, READ_MARGIN)
