"""Camera slot occupancy with classical OpenCV, all slots at once.

Each slot polygon is rectified once into a small canonical patch (``patch`` pixels, long
side vertical); one ``cv2.remap`` per frame samples every slot into a mosaic, and all
features are computed vectorised over slots. Per slot an empty-bay background model
(log-luminance, chromaticity, gradient magnitude) is kept and updated only while the slot
is confidently free, so slow lighting change is followed.

Features are chosen to survive lighting and shadows: working in log-luminance turns a
change of exposure or a shadow into an additive offset, which the per-slot median removes;
normalised cross-correlation compares texture independently of gain; gradient change and
chromaticity change (corrected by the frame-wide tint change) see a car's edges and colour;
shadows only darken, so "brighter than the background" is strong evidence of a car.
A logistic combination of the features (weights fitted on simulator frames by
``bench/parking.py --fit``) gives a score in 0..1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from recognition.parking.geometry import SlotLike, slot_quad, unit_to_quad

FEATURES = (
    "texture_change",  # 1 - NCC(log-luma, background) over the patch
    "cells_changed",  # fraction of cells whose own NCC is low
    "deviation",  # fraction of pixels whose log-luma change differs from the slot's median change
    "edge_change",  # mean |gradient - background gradient|
    "chroma_change",  # chromaticity change beyond the frame-wide tint change
    "brighter",  # fraction of pixels brighter than the background beyond the global change
    "edge_density",  # gradient energy relative to the background's (a car has more structure)
)

# Logistic weights over FEATURES + bias, fitted by ``bench/parking.py --fit`` on simulator
# frames (seeds disjoint from the benchmark's).
WEIGHTS = np.array([-4.578, 5.416, -0.576, 21.192, 7.87, 4.889, 5.658], np.float32)
BIAS = np.float32(-16.523)


_CHANNELS = ("log", "cb", "cr", "sure", "grad")


@dataclass(frozen=True, slots=True)
class SlotObservation:
    occupied: bool
    score: float  # 0 (surely free) .. 1 (surely occupied)


class SlotOccupancyDetector:
    """Per-frame occupied/free per slot. Call ``calibrate`` with an empty frame first, or
    let the first frame be the background (slots then read free at start)."""

    def __init__(
        self,
        slots: Sequence[SlotLike],
        *,
        scale: float = 0.5,
        patch: tuple[int, int] = (16, 32),
        threshold: float = 0.5,
        learn_rate: float = 0.08,
        free_below: float = 0.15,
        cells: tuple[int, int] = (2, 4),
        weights: np.ndarray | None = None,
        bias: float | None = None,
    ) -> None:
        if not slots:
            raise ValueError("no slots")
        self.ids = [s.id for s in slots]
        self._polys = [list(s.polygon) for s in slots]
        self.scale = scale
        self.pw, self.ph = patch
        self.threshold = threshold
        self.learn_rate = learn_rate
        self.free_below = free_below
        self.cells = cells
        self.weights = WEIGHTS if weights is None else np.asarray(weights, np.float32)
        self.bias = BIAS if bias is None else np.float32(bias)
        self._map_x, self._map_y = self._build_maps()
        lut = np.log(np.arange(256, dtype=np.float32) + 8.0)
        self._log_lut = lut.astype(np.float32)
        self._bg: dict[str, np.ndarray] | None = None
        self._last_features: np.ndarray | None = None
        self._prev_occupied = np.zeros(len(self.ids), bool)

    # ---- set-up

    def _build_maps(self) -> tuple[np.ndarray, np.ndarray]:
        n, pw, ph = len(self._polys), self.pw, self.ph
        u = (np.arange(pw, dtype=np.float32) + 0.5) / pw
        v = (np.arange(ph, dtype=np.float32) + 0.5) / ph
        uu, vv = np.meshgrid(u, v)
        grid = np.stack([uu.ravel(), vv.ravel()], axis=1).reshape(-1, 1, 2)
        map_x = np.empty((n * ph, pw), np.float32)
        map_y = np.empty((n * ph, pw), np.float32)
        for i, poly in enumerate(self._polys):
            quad = slot_quad(poly) * self.scale
            pts = cv2.perspectiveTransform(grid, unit_to_quad(quad)).reshape(ph, pw, 2)
            map_x[i * ph : (i + 1) * ph] = pts[..., 0]
            map_y[i * ph : (i + 1) * ph] = pts[..., 1]
        return map_x, map_y

    def _sample(self, frame_bgr: np.ndarray) -> dict[str, np.ndarray]:
        small = cv2.resize(
            frame_bgr, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA
        )
        mosaic = cv2.remap(
            small, self._map_x, self._map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        gray = cv2.cvtColor(mosaic, cv2.COLOR_BGR2GRAY)
        log = self._log_lut[gray]
        gx = cv2.Sobel(log, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(log, cv2.CV_32F, 0, 1, ksize=3)
        grad = cv2.magnitude(gx, gy)
        f = mosaic.astype(np.float32)
        total = f.sum(axis=2)
        n = len(self.ids)
        shape = (n, self.ph, self.pw)
        grad = grad.reshape(shape)
        grad[:, 0, :] = grad[:, -1, :] = 0  # seams between stacked patches
        return {
            "log": log.reshape(shape),
            "cb": (f[..., 0] / (total + 1.0)).reshape(shape),
            "cr": (f[..., 2] / (total + 1.0)).reshape(shape),
            # Chromaticity of dark pixels is mostly noise: weight it by brightness.
            "sure": (total / (total + 60.0)).reshape(shape),
            "grad": grad,
        }

    def calibrate(self, empty_frame_bgr: np.ndarray) -> None:
        """Take ``empty_frame_bgr`` (no car in any slot) as every slot's background."""
        self._bg = {k: v.copy() for k, v in self._sample(empty_frame_bgr).items()}

    # ---- per frame

    def features(self, frame_bgr: np.ndarray) -> np.ndarray:
        """(n_slots, len(FEATURES)) feature matrix for this frame (does not learn)."""
        cur = self._sample(frame_bgr)
        if self._bg is None:
            self._bg = {k: v.copy() for k, v in cur.items()}
        return self._features(cur, self._bg)[0]

    def _features(
        self, cur: dict[str, np.ndarray], bg: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        n = len(self.ids)
        L, BL = cur["log"], bg["log"]
        d = L - BL
        flat_d = d.reshape(n, -1)
        med = np.median(flat_d, axis=1)
        deviation = (np.abs(flat_d - med[:, None]) > 0.3).mean(axis=1)
        # Global exposure change from slots believed free (all slots at start).
        free = ~self._prev_occupied
        global_med = float(np.median(med[free])) if free.any() else float(np.median(med))
        brighter = (flat_d - global_med > 0.35).mean(axis=1)

        texture = 1.0 - _ncc(L.reshape(n, -1), BL.reshape(n, -1))
        cx, cy = self.cells
        ch, cw = self.ph // cy, self.pw // cx
        Lc = L[:, : ch * cy, : cw * cx].reshape(n, cy, ch, cx, cw).transpose(0, 1, 3, 2, 4)
        Bc = BL[:, : ch * cy, : cw * cx].reshape(n, cy, ch, cx, cw).transpose(0, 1, 3, 2, 4)
        cell_ncc = _ncc(Lc.reshape(n * cy * cx, -1), Bc.reshape(n * cy * cx, -1)).reshape(n, -1)
        cells_changed = (cell_ncc < 0.3).mean(axis=1)

        G, BG = cur["grad"].reshape(n, -1), bg["grad"].reshape(n, -1)
        edge_change = np.abs(G - BG).mean(axis=1)
        edge_density = np.log((G.mean(axis=1) + 0.02) / (BG.mean(axis=1) + 0.02))

        dcb = (cur["cb"] - bg["cb"]).reshape(n, -1)
        dcr = (cur["cr"] - bg["cr"]).reshape(n, -1)
        # A colour cast of the light (warm lamps, dusk) shifts every pixel alike.
        ref = free if free.any() else np.ones(n, bool)
        tint_b, tint_r = float(np.median(dcb[ref])), float(np.median(dcr[ref]))
        sure = np.minimum(cur["sure"], bg["sure"]).reshape(n, -1)
        chroma = (sure * (np.abs(dcb - tint_b) + np.abs(dcr - tint_r))).mean(axis=1)

        feats = np.stack(
            [texture, cells_changed, deviation, edge_change, chroma, brighter, edge_density],
            axis=1,
        ).astype(np.float32)
        return feats, {"d": d}

    def update(self, frame_bgr: np.ndarray, t: float | None = None) -> dict[str, SlotObservation]:
        """Classify every slot in ``frame_bgr`` and adapt the backgrounds of free slots."""
        cur = self._sample(frame_bgr)
        if self._bg is None:
            self._bg = {k: v.copy() for k, v in cur.items()}
        feats, _ = self._features(cur, self._bg)
        self._last_features = feats
        z = feats @ self.weights + self.bias
        score = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        occupied = score >= self.threshold
        self._learn(cur, score)
        self._prev_occupied = occupied
        return {
            sid: SlotObservation(bool(o), float(s))
            for sid, o, s in zip(self.ids, occupied, score, strict=True)
        }

    def _learn(self, cur: dict[str, np.ndarray], score: np.ndarray) -> None:
        """Blend the current patch into the background of confidently free slots only."""
        assert self._bg is not None
        sel = score < self.free_below
        if not sel.any():
            return
        a = self.learn_rate
        for key, bg in self._bg.items():
            bg[sel] += a * (cur[key][sel] - bg[sel])

    def save_background(self, path: str | Path) -> None:
        """Keep the learned backgrounds across restarts (an .npz next to the edge state):
        a restart while bays are occupied must not take parked cars for background."""
        if self._bg is None:
            raise RuntimeError("nothing learned yet")
        # numpy's stubs take **arrays for its allow_pickle flag; the arrays are named here
        np.savez_compressed(path, ids=np.array(self.ids), **self._bg)  # type: ignore[arg-type]

    def load_background(self, path: str | Path) -> None:
        """Load backgrounds saved for the same slot list and patch size."""
        with np.load(path) as data:
            if list(data["ids"]) != self.ids:
                raise ValueError(f"{path}: saved for other slots")
            bg = {k: data[k].astype(np.float32) for k in data.files if k != "ids"}
        shape = (len(self.ids), self.ph, self.pw)
        if any(v.shape != shape for v in bg.values()) or set(bg) != set(_CHANNELS):
            raise ValueError(f"{path}: saved with another patch size or detector version")
        self._bg = bg

    def background(self, slot_id: str) -> np.ndarray:
        """A copy of the slot's empty-bay log-luminance patch (after ``calibrate``)."""
        if self._bg is None:
            raise RuntimeError("no background yet: calibrate or feed a frame first")
        patch: np.ndarray = self._bg["log"][self.ids.index(slot_id)].copy()
        return patch

    @property
    def last_features(self) -> np.ndarray | None:
        return self._last_features


def _ncc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise normalised cross-correlation of two (rows, pixels) arrays."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    num = (a * b).sum(axis=1)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1)) + 1e-6
    ncc: np.ndarray = num / den
    return ncc


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50) -> np.ndarray:
    """Logistic regression by Newton's method; returns weights with the bias last."""
    a = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    w = np.zeros(a.shape[1])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -30, 30)))
        grad = a.T @ (p - y) + l2 * w
        hess = (a * (p * (1 - p))[:, None]).T @ a + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w
