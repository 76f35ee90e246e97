"""Car-park camera simulator: slot layouts, a renderer with ground truth, and scenarios.

The renderer takes slot polygons in image coordinates (as in the site config), so it draws
whatever layout the config gives. It paints a textured asphalt ground with line markings,
cars of varied colour/size/orientation with an angled-camera look (body, glass, roof
raised by the car's height), their shadows, people walking, a car driving along the aisle,
and day/dusk/night lighting (street lamps, headlights) with optional rain. Everything is
deterministic from the seed and the time ``t``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import cv2
import numpy as np

from recognition.parking.geometry import slot_quad, unit_to_quad

Point = tuple[int, int]
Lighting = Literal["day", "dusk", "night"]
LIGHTINGS: tuple[Lighting, ...] = ("day", "dusk", "night")

# Ground-plane sizes in metres (a Chinese standard bay is 2.5 m x 5.3 m).
SLOT_W_M = 2.5
SLOT_L_M = 5.0


@dataclass(frozen=True)
class SlotGeometry:
    """One marked slot (or watched region): id, zone id and polygon in image pixels."""

    id: str
    zone: str
    polygon: tuple[Point, ...]
    reserved_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class CarSpec:
    """A parked or moving car. Sizes are fractions of the slot's long/short side."""

    color: tuple[float, float, float]  # BGR albedo 0..1
    length: float = 0.84
    width: float = 0.74
    angle_deg: float = 0.0
    offset: tuple[float, float] = (0.0, 0.0)  # across, along (fraction of slot)
    height_m: float = 1.45
    plate: str | None = None
    reverse: bool = False  # parked nose-in or nose-out


# Real-world car colour shares (white, black, grey/silver dominate in China).
_PALETTE: tuple[tuple[float, tuple[float, float, float]], ...] = (
    (0.30, (0.86, 0.87, 0.88)),  # white
    (0.18, (0.07, 0.07, 0.08)),  # black
    (0.14, (0.38, 0.38, 0.37)),  # dark grey
    (0.12, (0.66, 0.66, 0.64)),  # silver
    (0.07, (0.12, 0.12, 0.62)),  # red
    (0.07, (0.55, 0.28, 0.12)),  # blue
    (0.04, (0.20, 0.32, 0.22)),  # dark green
    (0.04, (0.35, 0.55, 0.70)),  # champagne
    (0.04, (0.60, 0.45, 0.30)),  # light blue
)


def random_car(rng: np.random.Generator, plate: str | None = None) -> CarSpec:
    weights = np.array([w for w, _ in _PALETTE])
    base = _PALETTE[int(rng.choice(len(_PALETTE), p=weights / weights.sum()))][1]
    color = tuple(float(np.clip(c * rng.uniform(0.9, 1.1), 0, 1)) for c in base)
    kind = rng.random()
    if kind < 0.15:  # small city car
        length, width, height = rng.uniform(0.62, 0.72), rng.uniform(0.62, 0.68), 1.5
    elif kind < 0.4:  # SUV
        length, width, height = rng.uniform(0.84, 0.92), rng.uniform(0.74, 0.8), 1.75
    else:  # sedan
        length, width, height = rng.uniform(0.8, 0.9), rng.uniform(0.7, 0.76), 1.45
    return CarSpec(
        color=color,  # type: ignore[arg-type]
        length=length,
        width=width,
        angle_deg=float(rng.normal(0, 2.5)),
        offset=(float(rng.normal(0, 0.04)), float(rng.normal(0, 0.03))),
        height_m=height,
        plate=plate,
        reverse=bool(rng.random() < 0.3),
    )


# --------------------------------------------------------------------------- layouts


def _ground_homography(ground_w: float, ground_d: float, size: tuple[int, int]) -> np.ndarray:
    """Ground metres (x across, y depth away from camera) -> image pixels, angled view."""
    w, h = size
    src = np.float32([[0, ground_d], [ground_w, ground_d], [ground_w, 0], [0, 0]])
    dst = np.float32(
        [[0.1 * w, 0.09 * h], [0.9 * w, 0.09 * h], [1.0 * w, 0.97 * h], [0.0 * w, 0.97 * h]]
    )
    return cv2.getPerspectiveTransform(src, dst)


def _project(hom: np.ndarray, pts: Sequence[tuple[float, float]]) -> tuple[Point, ...]:
    arr = cv2.perspectiveTransform(np.float32(pts).reshape(-1, 1, 2), hom).reshape(-1, 2)
    return tuple((round(float(x)), round(float(y))) for x, y in arr)


def _ground_rect(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    """Rectangle corners ordered far-left, far-right, near-right, near-left."""
    return [(x0, y1), (x1, y1), (x1, y0), (x0, y0)]


def grid_layout(
    n_slots: int,
    size: tuple[int, int] = (1280, 720),
    rows: int = 4,
    zones: Mapping[str, int] | Sequence[str] | None = None,
    aisle_m: float = 5.0,
) -> list[SlotGeometry]:
    """``n_slots`` perpendicular bays in ``rows`` rows seen by an angled camera.

    ``zones`` is either one zone id per slot or ``{zone: count}`` assigned in order; the
    rest are ``general``.
    """
    per_row = math.ceil(n_slots / rows)
    ground_w = per_row * SLOT_W_M + 1.0
    ground_d = rows * SLOT_L_M + rows * aisle_m
    hom = _ground_homography(ground_w, ground_d, size)
    zone_of = _zone_list(n_slots, zones)
    slots: list[SlotGeometry] = []
    for i in range(n_slots):
        row, col = divmod(i, per_row)
        y0 = aisle_m * 0.6 + row * (SLOT_L_M + aisle_m)
        x0 = 0.5 + col * SLOT_W_M
        poly = _project(hom, _ground_rect(x0, y0, x0 + SLOT_W_M, y0 + SLOT_L_M))
        slots.append(SlotGeometry(f"S{i + 1:02d}", zone_of[i], poly))
    return slots


def _zone_list(n: int, zones: Mapping[str, int] | Sequence[str] | None) -> list[str]:
    if zones is None:
        return ["general"] * n
    if isinstance(zones, Mapping):
        out = [z for z, count in zones.items() for _ in range(count)]
    else:
        out = list(zones)
    if len(out) > n:
        raise ValueError(f"{len(out)} zone entries for {n} slots")
    return out + ["general"] * (n - len(out))


# The example site (config/lakeside.yaml): row A far, aisle (driving lane + a marked strip
# with fire lane and no-parking), row B near.
_SITE_W = 10 * SLOT_W_M + 1.0
_SITE_D = 2 * SLOT_L_M + 8.0 + 1.0
_LANE = (5.5, 10.0)  # driving lane depth range (m), between row B and the strip
_STRIP = (10.0, 13.5)  # marked strip depth range (m)


def _site_hom(size: tuple[int, int]) -> np.ndarray:
    return _ground_homography(_SITE_W, _SITE_D, size)


def default_site_slots(size: tuple[int, int] = (1280, 720)) -> list[SlotGeometry]:
    """The 24-region example site: A01-A10 (A09/A10 reserved), B01-B10 (B09/B10 visitor),
    fire-lane strip F01/F02 and no-parking strip N01/N02 along the aisle."""
    hom = _site_hom(size)
    slots: list[SlotGeometry] = []
    reserved = {"A09": ("浙HA1234",), "A10": ("浙HD12345",)}
    far_y0 = _STRIP[1]
    for col in range(10):
        x0 = 0.5 + col * SLOT_W_M
        sid = f"A{col + 1:02d}"
        zone = "reserved" if sid in reserved else "general"
        poly = _project(hom, _ground_rect(x0, far_y0, x0 + SLOT_W_M, far_y0 + SLOT_L_M))
        slots.append(SlotGeometry(sid, zone, poly, reserved.get(sid, ())))
    for col in range(10):
        x0 = 0.5 + col * SLOT_W_M
        sid = f"B{col + 1:02d}"
        zone = "visitor" if col >= 8 else "general"
        slots.append(SlotGeometry(sid, zone, _project(hom, _ground_rect(x0, 0.5, x0 + 2.5, 5.5))))
    strip_w = (_SITE_W - 1.0) / 4
    for k, (sid, zone) in enumerate(
        [("F01", "fire-lane"), ("F02", "fire-lane"), ("N01", "no-parking"), ("N02", "no-parking")]
    ):
        x0 = 0.5 + k * strip_w
        poly = _project(hom, _ground_rect(x0, _STRIP[0], x0 + strip_w, _STRIP[1]))
        slots.append(SlotGeometry(sid, zone, poly))
    return slots


def default_site_aisle_regions(size: tuple[int, int] = (1280, 720)) -> list[SlotGeometry]:
    """Unmarked driving-lane cells of the example site, watched for 'parked outside slots'."""
    hom = _site_hom(size)
    cell_w = (_SITE_W - 1.0) / 4
    return [
        SlotGeometry(
            f"L{k + 1:02d}",
            "aisle",
            _project(
                hom, _ground_rect(0.5 + k * cell_w, _LANE[0], 0.5 + (k + 1) * cell_w, _LANE[1])
            ),
        )
        for k in range(4)
    ]


def slot_yaml(slots: Sequence[SlotGeometry]) -> str:
    """The slots as YAML lines for the site config (``car_park.slots``)."""
    lines = []
    for s in slots:
        poly = ", ".join(f"[{x}, {y}]" for x, y in s.polygon)
        extra = f", reserved_for: [{', '.join(s.reserved_for)}]" if s.reserved_for else ""
        lines.append(f"    - {{id: {s.id}, zone: {s.zone}, polygon: [{poly}]{extra}}}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- renderer


@dataclass(frozen=True)
class LooseCar:
    """A car not in any slot (aisle, lawn): placed on a quad like a pseudo-slot."""

    quad: tuple[Point, ...]
    spec: CarSpec


@dataclass
class RenderedFrame:
    image: np.ndarray  # BGR uint8
    t: float
    lighting: Lighting
    occupied: dict[str, bool]  # ground truth: a parked car in the slot
    occluded: dict[str, float]  # fraction of the slot covered by walkers / the passing car
    car_boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Walker:
    start: np.ndarray
    end: np.ndarray
    speed: float  # px per second
    phase: float
    shirt: tuple[float, float, float]


class CarParkRenderer:
    """Renders an angled car-park camera view over the given slot polygons."""

    def __init__(
        self,
        slots: Sequence[SlotGeometry],
        size: tuple[int, int] = (1280, 720),
        seed: int = 0,
        lane_y: float | None = None,
        lamps: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        self.slots = list(slots)
        self.size = size
        self.seed = seed
        rng = np.random.default_rng(seed)
        self._quads = {s.id: slot_quad(s.polygon) for s in self.slots}
        self._long_px = {sid: float(np.linalg.norm(q[3] - q[0])) for sid, q in self._quads.items()}
        self._short_px = {sid: float(np.linalg.norm(q[1] - q[0])) for sid, q in self._quads.items()}
        self.lane_y = lane_y if lane_y is not None else self._guess_lane_y()
        self._ground = self._make_ground(rng)
        lamp_pts = lamps if lamps is not None else self._default_lamps(rng)
        self._lamp_map = self._make_lamp_map(lamp_pts)
        self._illum_cache: dict[str, tuple[np.ndarray, float]] = {}
        self._walkers = [self._make_walker(rng) for _ in range(12)]
        self._passing = random_car(rng)
        self._bboxes = {s.id: cv2.boundingRect(np.int32(s.polygon)) for s in self.slots}

    # ---- static scene

    def _guess_lane_y(self) -> float:
        """Middle of the watched aisle regions, else of the widest gap between bay rows."""
        aisle = [s for s in self.slots if s.zone == "aisle"]
        if aisle:
            return float(np.mean([np.mean([p[1] for p in s.polygon]) for s in aisle]))
        ys = sorted(float(np.mean([p[1] for p in s.polygon])) for s in self.slots)
        if len(ys) < 2:
            return self.size[1] / 2
        gaps = [(ys[i + 1] - ys[i], i) for i in range(len(ys) - 1)]
        _, i = max(gaps)
        return (ys[i] + ys[i + 1]) / 2

    def _make_ground(self, rng: np.random.Generator) -> np.ndarray:
        w, h = self.size
        base = 0.36 + 0.05 * cv2.resize(rng.random((9, 16)).astype(np.float32), (w, h))
        blotch = cv2.resize(rng.random((36, 64)).astype(np.float32), (w, h)) - 0.5
        grain = rng.normal(0, 0.025, (h, w)).astype(np.float32)
        gray = base + 0.06 * blotch + grain
        img = np.dstack([gray * 1.02, gray, gray * 0.97]).astype(np.float32)
        # Oil stains and repaired patches, more inside bays.
        for _ in range(40):
            s = self.slots[int(rng.integers(len(self.slots)))] if self.slots else None
            if s is not None and rng.random() < 0.7:
                q = self._quads[s.id]
                u, v = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
                c = cv2.perspectiveTransform(np.float32([[[u, v]]]), unit_to_quad(q))[0, 0]
            else:
                c = rng.uniform([0, 0], [w, h])
            axes = (int(rng.uniform(6, 30)), int(rng.uniform(4, 14)))
            shade = float(rng.uniform(0.72, 0.92))
            stain = np.zeros((h, w), np.uint8)
            cv2.ellipse(
                stain, (int(c[0]), int(c[1])), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1
            )
            stain_f = cv2.GaussianBlur(stain, (0, 0), 3).astype(np.float32) / 255
            img *= (1 - (1 - shade) * stain_f)[..., None]
        self._paint_markings(img, rng)
        return img

    def _paint_markings(self, img: np.ndarray, rng: np.random.Generator) -> None:
        white = (0.85, 0.86, 0.86)
        yellow = (0.15, 0.75, 0.85)
        for s in self.slots:
            poly = np.int32(s.polygon).reshape(-1, 1, 2)
            thick = max(2, round(self._short_px[s.id] / 35))
            if s.zone in ("fire-lane", "fire_lane"):
                self._hatch(img, poly, yellow, step=max(10, int(self._short_px[s.id] / 6)))
                cv2.polylines(img, [poly], True, (0.15, 0.2, 0.8), thick + 1)
            elif s.zone in ("no-parking", "no_parking"):
                self._hatch(
                    img, poly, yellow, step=max(12, int(self._short_px[s.id] / 5)), cross=True
                )
                cv2.polylines(img, [poly], True, yellow, thick)
            elif s.zone == "aisle":
                continue
            else:
                cv2.polylines(img, [poly], True, white, thick)
                if s.zone in ("visitor", "reserved"):
                    cx, cy = np.mean(s.polygon, axis=0)
                    letter = "V" if s.zone == "visitor" else "R"
                    scale = self._short_px[s.id] / 70
                    cv2.putText(
                        img,
                        letter,
                        (int(cx - 12 * scale), int(cy + 12 * scale)),
                        cv2.FONT_HERSHEY_SIMPLEX,
                        scale,
                        yellow,
                        max(1, int(2 * scale)),
                    )

    @staticmethod
    def _hatch(img: np.ndarray, poly: np.ndarray, color, step: int, cross: bool = False) -> None:
        x, y, w, h = cv2.boundingRect(poly)
        layer = np.zeros(img.shape[:2], np.uint8)
        for k in range(-h, w + h, step):
            cv2.line(layer, (x + k, y + h), (x + k + h, y), 255, 2)
            if cross:
                cv2.line(layer, (x + k, y), (x + k + h, y + h), 255, 2)
        inside = np.zeros_like(layer)
        cv2.fillPoly(inside, [poly], 255)
        sel = (layer > 0) & (inside > 0)
        img[sel] = color

    def _default_lamps(self, rng: np.random.Generator) -> list[tuple[int, int]]:
        """Lamp posts about every 12 m: three along the aisle and a loose grid elsewhere,
        leaving darker gaps between the pools of light."""
        w, h = self.size
        lamps = [(int(w * f), int(self.lane_y + rng.uniform(-20, 20))) for f in (0.15, 0.5, 0.85)]
        for fy in (0.1, 0.95):
            for fx in (0.2, 0.55, 0.9):
                lamps.append((int(w * fx + rng.uniform(-40, 40)), int(h * fy)))
        return lamps

    def _make_lamp_map(self, lamps: Sequence[tuple[int, int]]) -> np.ndarray:
        w, h = self.size
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        light = np.zeros((h, w), np.float32)
        for lx, ly in lamps:
            r2 = ((xx - lx) / 1.0) ** 2 + ((yy - ly) / 0.7) ** 2
            light += 0.75 * np.exp(-r2 / (2 * 200.0**2))
        return np.clip(light, 0, 1.1)

    def _make_walker(self, rng: np.random.Generator) -> _Walker:
        w, h = self.size
        # Paths cross the car park in any direction, over bays and the aisle.
        start = rng.uniform([0, 0.1 * h], [w, 0.95 * h])
        end = rng.uniform([0, 0.1 * h], [w, 0.95 * h])
        shirt = tuple(float(c) for c in rng.uniform(0.05, 0.9, 3))
        return _Walker(start, end, float(rng.uniform(35, 60)), float(rng.uniform(0, 1000)), shirt)  # type: ignore[arg-type]

    # ---- per frame

    def render(
        self,
        occupancy: Mapping[str, CarSpec | None],
        *,
        t: float,
        lighting: Lighting = "day",
        rain: bool = False,
        walkers: int = 0,
        passing_car: bool | float = False,
        loose_cars: Sequence[LooseCar] = (),
    ) -> RenderedFrame:
        w, h = self.size
        rng = np.random.default_rng([self.seed, int(t * 1000) & 0xFFFFFFFF, 7])
        img = self._ground.copy()
        if rain:
            img *= 0.78  # wet asphalt is darker
        parked: list[tuple[np.ndarray, CarSpec, str]] = []
        for s in self.slots:
            spec = occupancy.get(s.id)
            if spec is not None:
                parked.append((self._quads[s.id], spec, s.id))
        for loose in loose_cars:
            parked.append((slot_quad(loose.quad), loose.spec, ""))
        sun = self._sun(t, lighting)
        shadow = np.zeros((h, w), np.float32)
        car_draws = []
        for quad, spec, sid in parked:
            parts = self._slot_car_parts(quad, spec)
            self._shadow(shadow, parts, sun)
            car_draws.append((parts, spec, sid))
        moving = np.zeros((h, w), np.uint8)
        walker_draws = [self._walker_at(wk, t) for wk in self._walkers[:walkers]]
        for pos, scale, _ in walker_draws:
            cv2.ellipse(
                shadow,
                (int(pos[0] + sun[0] * scale * 0.4), int(pos[1] + 2)),
                (int(6 * scale), int(3 * scale)),
                0,
                0,
                360,
                1.0,
                -1,
            )
        pass_parts = None
        if passing_car is not False:
            progress = None if passing_car is True else float(passing_car)
            pass_parts = self._passing_parts(t, progress)
            self._shadow(shadow, pass_parts, sun)
        strength = {"day": 0.55, "dusk": 0.4, "night": 0.25}[lighting]
        half = cv2.resize(shadow, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        half = cv2.GaussianBlur(half, (0, 0), 1.25 if lighting == "day" else 3)
        shadow = cv2.resize(half, (w, h))
        img *= (1 - strength * shadow)[..., None]
        # Cars far to near so nearer cars overlap.
        boxes: dict[str, tuple[int, int, int, int]] = {}
        for parts, spec, sid in sorted(car_draws, key=lambda d: d[0]["base"][:, 1].max()):
            self._draw_car(img, parts, spec)
            if sid:
                boxes[sid] = cv2.boundingRect(np.int32(np.vstack([parts["base"], parts["roof"]])))
        for pos, scale, wk in walker_draws:
            self._draw_walker(img, moving, pos, scale, wk.shirt)
        if pass_parts is not None:
            self._draw_car(img, pass_parts, self._passing)
            cv2.fillConvexPoly(
                moving,
                np.int32(
                    cv2.convexHull(
                        np.vstack([pass_parts["base"], pass_parts["roof"]]).astype(np.int32)
                    )
                ),
                255,
            )
        img = self._light(img, t, lighting, rain, pass_parts, car_draws, rng)
        occluded = {}
        for s in self.slots:
            x, y, bw, bh = self._bboxes[s.id]
            sub = moving[max(0, y) : y + bh, max(0, x) : x + bw]
            occluded[s.id] = float((sub > 0).mean()) if sub.size else 0.0
        return RenderedFrame(
            image=img,
            t=t,
            lighting=lighting,
            occupied={s.id: occupancy.get(s.id) is not None for s in self.slots},
            occluded=occluded,
            car_boxes=boxes,
        )

    def _sun(self, t: float, lighting: Lighting) -> tuple[float, float]:
        """Shadow offset per metre of height, in units of the slot short side."""
        if lighting == "night":
            return (0.08, 0.05)
        angle = 0.3 + 0.4 * math.sin(t / 3600.0)  # the sun moves slowly
        length = 0.35 if lighting == "day" else 1.1
        return (length * math.cos(angle), length * math.sin(angle) * 0.5)

    def _slot_car_parts(self, quad: np.ndarray, spec: CarSpec) -> dict[str, np.ndarray]:
        hom = unit_to_quad(quad)
        across = float(np.linalg.norm(quad[1] - quad[0]))
        along = float(np.linalg.norm(quad[3] - quad[0]))
        metric = np.array([across, along], np.float32)
        ang = math.radians(spec.angle_deg)
        rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
        half_len = spec.length * along / 2
        half_wid = spec.width * across / 2
        centre = np.array([0.5 + spec.offset[0], 0.5 + spec.offset[1]]) * metric
        # Height in pixels: the bay's short side is 2.5 m; an angled view shows ~0.55 of it.
        px_per_m = across / SLOT_W_M * 0.4
        lift = spec.height_m * px_per_m
        sign = -1.0 if spec.reverse else 1.0

        def to_img(a: float, b: float, z: float) -> np.ndarray:
            local = np.array([b * 2 * half_wid, sign * a * 2 * half_len])
            m = centre + rot @ local
            uv = (m / metric).astype(np.float32).reshape(1, 1, 2)
            p = cv2.perspectiveTransform(uv, hom)[0, 0]
            return np.array([p[0], p[1] - z * lift], np.float32)

        return _car_parts(to_img, px=across)

    def _passing_parts(self, t: float, progress: float | None = None) -> dict[str, np.ndarray]:
        """The aisle car at ``progress`` (0: entering left .. 1: gone right), or at a
        position cycling with ``t`` when no progress is given."""
        w, _ = self.size
        ys = [s.polygon for s in self.slots]
        near = min(ys, key=lambda p: abs(np.mean([q[1] for q in p]) - self.lane_y))
        scale = self._short_px.get(next(s.id for s in self.slots if s.polygon == near), 100.0)
        length = scale * 1.8
        span = w + 2 * length
        # Without a progress the car cycles through the view at ~10 km/h.
        x = (t * scale * 1.1) % span - length if progress is None else progress * span - length
        y = self.lane_y
        px_per_m = scale / SLOT_W_M * 0.55

        def to_img(a: float, b: float, z: float) -> np.ndarray:
            return np.array(
                [x + a * length, y + b * scale * 0.45 - z * 1.45 * px_per_m], np.float32
            )

        parts = _car_parts(to_img, px=scale)
        parts["front"] = np.array([x + 0.5 * length, y], np.float32)
        return parts

    def _shadow(self, shadow: np.ndarray, parts: dict[str, np.ndarray], sun) -> None:
        off = np.array(sun, np.float32) * parts["px"][0] * 0.6
        poly = np.vstack([parts["base"], parts["base"] + off, parts["roof_ground"] + off * 1.6])
        hull = cv2.convexHull(poly.astype(np.int32))
        cv2.fillConvexPoly(shadow, hull, 1.0)

    @staticmethod
    def _draw_car(img: np.ndarray, parts: dict[str, np.ndarray], spec: CarSpec) -> None:
        col = np.array(spec.color, np.float32)
        dark = tuple(float(c) for c in col * 0.6)
        body = tuple(float(c) for c in col)
        glass = (0.09, 0.08, 0.08)
        hull = cv2.convexHull(np.vstack([parts["base"], parts["belt"]]).astype(np.int32))
        cv2.fillConvexPoly(img, hull, dark)
        cv2.fillConvexPoly(img, parts["belt"].astype(np.int32), body)
        cabin = cv2.convexHull(np.vstack([parts["cabin_low"], parts["roof"]]).astype(np.int32))
        cv2.fillConvexPoly(img, cabin, glass)
        roof = tuple(float(min(1.0, c * 1.08 + 0.03)) for c in col)
        cv2.fillConvexPoly(img, parts["roof"].astype(np.int32), roof)
        # A specular streak along the roof and the glass.
        r = parts["roof"]
        cv2.line(
            img,
            tuple(((r[0] + r[3]) / 2).astype(int)),
            tuple(((r[1] + r[2]) / 2).astype(int)),
            tuple(float(min(1.0, c + 0.12)) for c in col),
            2,
        )
        ws = parts["cabin_low"]
        cv2.line(img, tuple(ws[0].astype(int)), tuple(r[0].astype(int)), (0.35, 0.35, 0.38), 1)
        for p in parts["tail"]:
            cv2.circle(
                img, tuple(p.astype(int)), max(2, int(parts["px"][0] / 30)), (0.1, 0.1, 0.55), -1
            )

    def _walker_at(self, wk: _Walker, t: float) -> tuple[np.ndarray, float, _Walker]:
        dist = float(np.linalg.norm(wk.end - wk.start))
        travel = (wk.phase + t * wk.speed) % (2 * dist)
        frac = travel / dist if travel < dist else 2 - travel / dist
        pos = wk.start + (wk.end - wk.start) * frac
        scale = 0.6 + 0.9 * pos[1] / self.size[1]  # nearer people look bigger
        return pos, scale, wk

    @staticmethod
    def _draw_walker(img, moving, pos, scale, shirt) -> None:
        x, y = float(pos[0]), float(pos[1])
        s = scale
        legs = (0.15, 0.13, 0.12)
        for dx in (-3, 3):
            cv2.line(
                img,
                (int(x + dx * s), int(y)),
                (int(x + dx * s * 0.6), int(y - 18 * s)),
                legs,
                max(1, int(3 * s)),
            )
        cv2.ellipse(img, (int(x), int(y - 28 * s)), (int(7 * s), int(12 * s)), 0, 0, 360, shirt, -1)
        cv2.circle(img, (int(x), int(y - 44 * s)), max(2, int(5 * s)), (0.35, 0.45, 0.6), -1)
        cv2.circle(img, (int(x), int(y - 46 * s)), max(2, int(5 * s)), (0.08, 0.08, 0.08), -1)
        cv2.rectangle(
            moving, (int(x - 8 * s), int(y - 50 * s)), (int(x + 8 * s), int(y + 2)), 255, -1
        )

    def _illumination(self, lighting: Lighting) -> tuple[np.ndarray, float]:
        """Per-pixel light (BGR gain x 255) for a lighting, and the sensor noise sigma."""
        if lighting not in self._illum_cache:
            if lighting == "day":
                illum, tint, noise = np.full_like(self._lamp_map, 1.3), (1.0, 1.0, 1.0), 2.0
            elif lighting == "dusk":
                illum, tint, noise = 0.75 * (0.85 + 0.3 * self._lamp_map), (0.8, 0.95, 1.12), 3.5
            else:  # warm street lamps over a dark ambient
                illum, tint, noise = 0.15 + 0.9 * self._lamp_map, (0.75, 0.92, 1.15), 6.0
            light = illum[..., None] * np.float32(tint) * np.float32(255.0)
            self._illum_cache[lighting] = (light.astype(np.float32), noise)
        return self._illum_cache[lighting]

    def _light(self, img, t, lighting, rain, pass_parts, car_draws, rng) -> np.ndarray:
        light, noise = self._illumination(lighting)
        out = img
        out *= light
        if lighting != "night":
            out *= 1.0 + 0.08 * math.sin(t / 240.0) + 0.04 * math.sin(t / 37.0)  # clouds
        if lighting != "day" and pass_parts is not None:
            self._headlights(out, pass_parts)
        if lighting == "night":
            for parts, _, _ in car_draws:  # parked cars show a faint roof reflection
                r = parts["roof"]
                cv2.line(out, tuple(r[0].astype(int)), tuple(r[1].astype(int)), (60, 60, 60), 1)
        if rain:
            self._rain(out, rng, lighting)
        grain = np.empty_like(out)
        cv2.setRNGSeed(int(rng.integers(1 << 30)))
        cv2.randn(grain, (0.0, 0.0, 0.0), (noise, noise, noise))
        out += grain
        out = cv2.GaussianBlur(out, (3, 3), 0.7)
        return np.clip(out, 0, 255).astype(np.uint8)

    def _headlights(self, out: np.ndarray, parts: dict[str, np.ndarray]) -> None:
        # The beam is soft: draw and blur it at a quarter of the resolution.
        h, w = out.shape[:2]
        beam = np.zeros((h // 4, w // 4), np.float32)
        fx, fy = parts["front"] / 4
        length = parts["px"][0] * 2.5 / 4
        cone = np.int32(
            [[fx, fy - 2], [fx + length, fy - 0.4 * length], [fx + length, fy + 0.4 * length]]
        )
        cv2.fillConvexPoly(beam, cone, 1.0)
        beam = cv2.resize(cv2.GaussianBlur(beam, (0, 0), 4), (w, h))
        out += (beam * 120)[..., None] * np.float32([0.95, 1.0, 1.0])
        for p in parts["head"]:
            cv2.circle(
                out, tuple(p.astype(int)), max(3, int(parts["px"][0] / 16)), (250, 255, 255), -1
            )

    @staticmethod
    def _rain(out: np.ndarray, rng: np.random.Generator, lighting: Lighting) -> None:
        h, w = out.shape[:2]
        layer = np.zeros((h, w), np.float32)
        n = 500
        xs = rng.integers(0, w, n)
        ys = rng.integers(0, h, n)
        lens = rng.integers(8, 22, n)
        for x, y, ln in zip(xs, ys, lens, strict=True):
            cv2.line(layer, (int(x), int(y)), (int(x + ln * 0.25), int(y + ln)), 1.0, 1)
        gain = {"day": 35.0, "dusk": 25.0, "night": 18.0}[lighting]
        out += (layer * gain)[..., None]
        out *= rng.uniform(0.97, 1.03)  # flicker of heavy rain


def _car_parts(to_img, px: float) -> dict[str, np.ndarray]:
    """Car polygons from a local->image mapping ``to_img(a along, b across, z height)``.

    a runs -0.5 (rear) .. 0.5 (front); b -0.5 .. 0.5; z 0 (ground) .. 1 (roof)."""

    def quad(a0, a1, b, z, b1=None, z1=None):
        b1 = b if b1 is None else b1
        z1 = z if z1 is None else z1
        return np.vstack(
            [to_img(a0, -b, z), to_img(a0, b, z), to_img(a1, b1, z1), to_img(a1, -b1, z1)]
        )

    return {
        "base": quad(-0.5, 0.5, 0.5, 0.0),
        "belt": quad(-0.48, 0.48, 0.47, 0.55),
        "cabin_low": quad(-0.28, 0.22, 0.45, 0.55),
        "roof": quad(-0.18, 0.08, 0.4, 1.0),
        "roof_ground": quad(-0.18, 0.08, 0.4, 0.0),
        "head": np.vstack([to_img(0.5, -0.33, 0.4), to_img(0.5, 0.33, 0.4)]),
        "tail": np.vstack([to_img(-0.5, -0.35, 0.45), to_img(-0.5, 0.35, 0.45)]),
        "px": np.array([px], np.float32),
    }


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class GateEvent:
    t: float
    plate: str
    direction: Literal["in", "out"]
    visitor: bool = False
    pass_id: str | None = None
    pass_until: float | None = None


@dataclass(frozen=True)
class Parking:
    """A car standing in ``slot`` from ``start`` until ``end`` (None: to the end)."""

    slot: str
    start: float
    end: float | None
    car: CarSpec


@dataclass
class Scenario:
    """A timed car-park story: who parks where and when, gate events, passers-by."""

    name: str
    slots: list[SlotGeometry]
    t0: float
    duration_s: float
    step_s: float
    parkings: list[Parking]
    gate_events: list[GateEvent] = field(default_factory=list)
    lighting: Lighting = "day"
    rain: bool = False
    walkers: int = 3
    passing: list[tuple[float, float]] = field(default_factory=list)  # car driving through
    expected: list[tuple[str, str]] = field(default_factory=list)  # (violation kind, slot/plate)

    def times(self) -> list[float]:
        n = int(self.duration_s / self.step_s)
        return [self.t0 + i * self.step_s for i in range(n + 1)]

    def occupancy(self, t: float) -> dict[str, CarSpec | None]:
        occ: dict[str, CarSpec | None] = {s.id: None for s in self.slots}
        for p in self.parkings:
            if p.start <= t and (p.end is None or t < p.end):
                occ[p.slot] = p.car
        return occ

    def passing_at(self, t: float) -> bool | float:
        """False, or how far (0..1) the passing car has crossed the view."""
        for a, b in self.passing:
            if a <= t < b:
                return (t - a) / (b - a)
        return False

    def gates_between(self, t_prev: float, t: float) -> list[GateEvent]:
        return [g for g in self.gate_events if t_prev < g.t <= t]

    def frames(self, renderer: CarParkRenderer) -> Iterator[RenderedFrame]:
        for t in self.times():
            yield renderer.render(
                self.occupancy(t),
                t=t,
                lighting=self.lighting,
                rain=self.rain,
                walkers=self.walkers,
                passing_car=self.passing_at(t),
            )

    def play(self, renderer: CarParkRenderer, monitor: Any) -> Iterator[tuple[RenderedFrame, Any]]:
        """Run the scenario through a car-park monitor (``edge.car_park.CarParkMonitor``):
        each frame's gate passages first, then the frame; yields (frame, the monitor's update)."""
        prev = -float("inf")
        for frame in self.frames(renderer):
            for g in self.gates_between(prev, frame.t):
                monitor.on_gate(
                    g.plate,
                    g.t,
                    g.direction,
                    visitor=g.visitor,
                    pass_id=g.pass_id,
                    pass_until=g.pass_until,
                )
            prev = frame.t
            yield frame, monitor.on_frame(frame.image, frame.t)


def _background_parkings(
    slots: Sequence[SlotGeometry], rng: np.random.Generator, fill: float, skip: set[str]
) -> list[Parking]:
    """Cars standing all through the scenario in some ordinary bays."""
    return [
        Parking(s.id, -1e9, None, random_car(rng))
        for s in slots
        if s.zone in ("general", "visitor", "reserved") and s.id not in skip and rng.random() < fill
    ]


def _passes(t0: float, duration: float, every_s: float, rng: np.random.Generator):
    out, t = [], t0 + rng.uniform(5, every_s)
    while t < t0 + duration:
        out.append((t, t + 14.0))  # one crossing of the view takes ~12 s
        t += rng.uniform(0.6, 1.4) * every_s
    return out


def fire_lane_scenario(
    slots: Sequence[SlotGeometry] | None = None,
    *,
    seed: int = 1,
    t0: float = 10 * 3600.0,
    lighting: Lighting = "day",
    slot: str = "F01",
    plate: str = "浙HC2468",
    park_after_s: float = 60.0,
    stay_s: float = 300.0,
    duration_s: float = 420.0,
    step_s: float = 1.0,
) -> Scenario:
    """A resident drives in and leaves the car in the fire lane for ``stay_s``."""
    slots = list(slots or default_site_slots())
    rng = np.random.default_rng(seed)
    start = t0 + park_after_s
    return Scenario(
        name="fire_lane",
        slots=slots,
        t0=t0,
        duration_s=duration_s,
        step_s=step_s,
        parkings=[
            *_background_parkings(slots, rng, 0.5, {slot}),
            Parking(slot, start, start + stay_s, replace(random_car(rng), plate=plate)),
        ],
        gate_events=[GateEvent(t0 + max(1.0, park_after_s - 40), plate, "in")],
        lighting=lighting,
        walkers=4,
        passing=_passes(t0, duration_s, 45, rng),
        expected=[("fire_lane", slot)],
    )


def visitor_overstay_scenario(
    slots: Sequence[SlotGeometry] | None = None,
    *,
    seed: int = 2,
    t0: float = 15 * 3600.0,
    lighting: Lighting = "dusk",
    slot: str = "B09",
    plate: str = "浙HK2020",
    pass_s: float = 180.0,
    duration_s: float = 420.0,
    step_s: float = 1.0,
) -> Scenario:
    """A visitor with a short pass parks in a visitor bay and is still there after it ends."""
    slots = list(slots or default_site_slots())
    rng = np.random.default_rng(seed)
    enter = t0 + 20
    return Scenario(
        name="visitor_overstay",
        slots=slots,
        t0=t0,
        duration_s=duration_s,
        step_s=step_s,
        parkings=[
            *_background_parkings(slots, rng, 0.5, {slot}),
            Parking(slot, enter + 45, None, replace(random_car(rng), plate=plate)),
        ],
        gate_events=[
            GateEvent(enter, plate, "in", visitor=True, pass_id="V0001", pass_until=enter + pass_s)
        ],
        lighting=lighting,
        walkers=3,
        passing=_passes(t0, duration_s, 60, rng),
        expected=[("visitor_overstay", plate)],
    )


def reserved_taken_scenario(
    slots: Sequence[SlotGeometry] | None = None,
    *,
    seed: int = 3,
    t0: float = 21 * 3600.0,
    lighting: Lighting = "night",
    slot: str = "A09",
    plate: str = "浙HB5678",
    duration_s: float = 360.0,
    step_s: float = 1.0,
) -> Scenario:
    """A resident without a reservation parks in a bay reserved for someone else."""
    slots = list(slots or default_site_slots())
    rng = np.random.default_rng(seed)
    enter = t0 + 30
    return Scenario(
        name="reserved_taken",
        slots=slots,
        t0=t0,
        duration_s=duration_s,
        step_s=step_s,
        parkings=[
            *_background_parkings(slots, rng, 0.5, {slot}),
            Parking(slot, enter + 50, None, replace(random_car(rng), plate=plate)),
        ],
        gate_events=[GateEvent(enter, plate, "in")],
        lighting=lighting,
        walkers=3,
        passing=_passes(t0, duration_s, 60, rng),
        expected=[("reserved_slot", slot)],
    )


def rush_hour_scenario(
    slots: Sequence[SlotGeometry] | None = None,
    *,
    seed: int = 4,
    t0: float = 7.5 * 3600.0,
    lighting: Lighting = "day",
    duration_s: float = 900.0,
    step_s: float = 1.0,
    rain: bool = False,
) -> Scenario:
    """Morning rush: most parked cars leave, a few arrive, cars and people pass all the time.
    Only ordinary bays are used, so no violation is expected."""
    slots = list(slots or default_site_slots())
    rng = np.random.default_rng(seed)
    parkings: list[Parking] = []
    gates: list[GateEvent] = []
    for k, s in enumerate(slots):
        if s.zone not in ("general", "visitor", "reserved"):
            continue
        plate = f"浙H{chr(65 + k % 20 + (k % 20 >= 8) + (k % 20 >= 13))}{1000 + k}"
        car = replace(random_car(rng), plate=plate)
        r = rng.random()
        if r < 0.55:  # leaves during the rush
            leave = t0 + rng.uniform(20, duration_s - 60)
            parkings.append(Parking(s.id, -1e9, leave, car))
            gates.append(GateEvent(leave + rng.uniform(30, 90), plate, "out"))
        elif r < 0.75:  # arrives (night shift coming home)
            arrive = t0 + rng.uniform(20, duration_s - 90)
            parkings.append(Parking(s.id, arrive, None, car))
            gates.append(GateEvent(arrive - rng.uniform(20, 60), plate, "in"))
        elif r < 0.9:
            parkings.append(Parking(s.id, -1e9, None, car))
    return Scenario(
        name="rush_hour",
        slots=slots,
        t0=t0,
        duration_s=duration_s,
        step_s=step_s,
        parkings=parkings,
        gate_events=sorted(gates, key=lambda g: g.t),
        lighting=lighting,
        rain=rain,
        walkers=8,
        passing=_passes(t0, duration_s, 25, rng),
        expected=[],
    )


SCENARIOS = {
    "rush_hour": rush_hour_scenario,
    "fire_lane": fire_lane_scenario,
    "visitor_overstay": visitor_overstay_scenario,
    "reserved_taken": reserved_taken_scenario,
}
