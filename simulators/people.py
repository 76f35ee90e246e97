"""Pedestrian-gate camera frames with a real face photo, for liveness and matching tests.

``render_gate_sequence`` composites a portrait (a real photograph, e.g. from
simulators/faces) onto a procedurally drawn gate scene and animates it:

* ``live=True``: a person standing at the gate. Besides slight head motion, each frame has
  non-rigid changes no flat object can make: the nose shifts against the cheeks (a small
  head turn's parallax), the mouth moves, and the eyes close for a blink part-way through.
* ``live=False``: a photo attack. The same still portrait, printed with a white paper
  border, is moved rigidly in front of the camera: translation, rotation, scale and a
  slight tilt (a perspective map of a plane), nothing else.

Frames are RGB uint8, deterministic for a given seed, with independent sensor noise so
that no two frames are identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recognition.face.detector import FaceStack
from recognition.face.settings import DetectorSettings

Size = tuple[int, int]  # width, height


@dataclass(frozen=True, slots=True)
class _Portrait:
    image: np.ndarray  # RGB
    landmarks: np.ndarray  # (68, 2) in portrait pixels
    face_px: float  # face box side


def _portrait(person_image: np.ndarray) -> _Portrait:
    faces = FaceStack(DetectorSettings(min_face_px=70)).observe(person_image, encode=False)
    if not faces:
        raise ValueError("person_image shows no face that dlib can find")
    face = faces[0]
    return _Portrait(person_image, face.landmarks.astype(np.float64), float(face.size))


def empty_gate_frame(seed: int, size: Size = (640, 480)) -> np.ndarray:
    """The gate with nobody in front of it: wall, floor, turnstile posts and a sign."""
    rng = np.random.default_rng(seed)
    width, height = size
    frame = np.empty((height, width, 3), np.float32)
    horizon = int(height * rng.uniform(0.62, 0.7))
    wall = np.array(rng.uniform([150, 145, 130], [200, 195, 185]), np.float32)
    floor = np.array(rng.uniform([80, 80, 85], [120, 115, 110]), np.float32)
    ramp = np.linspace(0.85, 1.05, horizon, dtype=np.float32)[:, None, None]
    frame[:horizon] = wall * ramp
    frame[horizon:] = (
        floor * np.linspace(1.0, 0.8, height - horizon, dtype=np.float32)[:, None, None]
    )
    # Floor tiles and turnstile posts at both sides of the walkway.
    for x in range(0, width, max(24, width // 16)):
        cv2.line(
            frame, (x, horizon), (int((x - width / 2) * 1.6 + width / 2), height), (60, 60, 60), 1
        )
    post = (int(rng.integers(90, 120)),) * 3
    for cx in (int(width * 0.12), int(width * 0.88)):
        cv2.rectangle(
            frame, (cx - width // 40, int(height * 0.35)), (cx + width // 40, height), post, -1
        )
        cv2.rectangle(
            frame,
            (cx - width // 40, int(height * 0.35)),
            (cx + width // 40, int(height * 0.4)),
            (40, 160, 60),
            -1,
        )
    sign_x = int(rng.integers(width // 20, width // 5))
    cv2.rectangle(
        frame, (sign_x, height // 12), (sign_x + width // 6, height // 6), (30, 90, 170), -1
    )
    frame += rng.normal(0, 2.0, frame.shape).astype(np.float32)  # plaster texture
    return np.clip(frame, 0, 255).astype(np.uint8)


def _noisy(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0, 2.5, frame.shape).astype(np.float32)
    return np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def _bump(shape: tuple[int, int], center: np.ndarray, sigma: float) -> np.ndarray:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    bump = np.exp(-((xs - center[0]) ** 2 + (ys - center[1]) ** 2) / (2 * sigma**2))
    return bump.astype(np.float32)


def _deform(p: _Portrait, nose_shift: float, mouth_shift: float) -> np.ndarray:
    """Non-rigid warp in portrait space: nose/mid-face sideways, lower lip down."""
    h, w = p.image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    nose = p.landmarks[30]
    lip = p.landmarks[57]
    dx = nose_shift * _bump((h, w), nose, p.face_px * 0.18)
    dy = mouth_shift * _bump((h, w), lip, p.face_px * 0.12)
    return cv2.remap(
        p.image,
        (xs - dx).astype(np.float32),
        (ys - dy).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )


def _close_eyes(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Eyes shut: each eye is covered with the smooth skin just below it and a lash line
    is drawn where the lids meet."""
    out = image.astype(np.float32)
    h, w = image.shape[:2]
    for eye in (landmarks[36:42], landmarks[42:48]):
        eye_w = eye[:, 0].max() - eye[:, 0].min()
        centre = eye.mean(0)
        drop = round(float(eye_w) * 0.42)  # the skin under the eye, clear of the lower lid
        mask = np.zeros((h, w), np.float32)
        axes = (int(eye_w * 0.66), int(eye_w * 0.30))
        cv2.ellipse(mask, (int(centre[0]), int(centre[1])), axes, 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), eye_w * 0.07)[..., None]
        skin = np.roll(out, -drop, axis=0)  # pixel (y) takes the skin from (y + drop)
        out = out * (1 - mask) + skin * mask * 0.97
        lid_line = np.array([eye[0], (eye[5] + eye[1]) / 2, (eye[4] + eye[2]) / 2, eye[3]])
        lid_line[1:3, 1] += eye_w * 0.06  # a closed lid sags slightly
        thickness = max(1, int(eye_w * 0.07))
        cv2.polylines(out, [lid_line.astype(np.int32)], False, (40, 30, 28), thickness, cv2.LINE_AA)
    return np.clip(out, 0, 255).astype(np.uint8)


def _placement(
    p: _Portrait, size: Size, rng: np.random.Generator, face_px: float | None
) -> tuple[float, np.ndarray]:
    """Scale and frame position of the face centre: by default a face of 22-30% of the
    frame height (106-144 px at 640x480, 158-216 px at 1280x720)."""
    width, height = size
    target = face_px if face_px is not None else height * rng.uniform(0.22, 0.30)
    scale = target / p.face_px
    centre = np.array([width * rng.uniform(0.42, 0.58), height * rng.uniform(0.33, 0.42)])
    return scale, centre


def _similarity(p: _Portrait, scale: float, centre: np.ndarray, angle: float) -> np.ndarray:
    face_centre = p.landmarks[27:36].mean(0)
    m = cv2.getRotationMatrix2D((float(face_centre[0]), float(face_centre[1])), angle, scale)
    m[:, 2] += centre - face_centre
    return np.vstack([m, [0, 0, 1]])


def _paste(frame: np.ndarray, image: np.ndarray, h: np.ndarray, feather: float) -> np.ndarray:
    width, height = frame.shape[1], frame.shape[0]
    warped = cv2.warpPerspective(image, h, (width, height), flags=cv2.INTER_LINEAR)
    mask = np.ones(image.shape[:2], np.float32)
    if feather > 0:  # soft edges: a person, not a cut-out rectangle
        edge = max(1, int(min(image.shape[:2]) * feather))
        mask[:edge] = mask[-edge:] = 0
        mask[:, :edge] = mask[:, -edge:] = 0
        mask = cv2.GaussianBlur(mask, (0, 0), edge / 2)
    alpha = cv2.warpPerspective(mask, h, (width, height))[..., None]
    return (frame * (1 - alpha) + warped * alpha).astype(np.uint8)


def _live_frames(p: _Portrait, background: np.ndarray, frames: int, rng, face_px):
    size = (background.shape[1], background.shape[0])
    scale, centre = _placement(p, size, rng, face_px)
    blink_at = int(rng.integers(frames // 3, max(frames // 3 + 1, 2 * frames // 3)))
    phase = rng.uniform(0, 2 * np.pi)
    out = []
    for t in range(frames):
        turn = np.sin(phase + t * 0.9)
        nose_shift = p.face_px * 0.05 * turn  # about 5% of the face: a few degrees of yaw
        mouth_shift = p.face_px * 0.03 * abs(np.sin(phase * 2 + t * 1.3))
        image = _deform(p, nose_shift, mouth_shift)
        if t in (blink_at, blink_at + 1) and frames >= 3:
            image = _close_eyes(image, p.landmarks)
        sway = centre + rng.normal(0, 1.5, 2) + [turn * 3.0, 0]
        h = _similarity(p, scale * (1 + rng.normal(0, 0.005)), sway, rng.normal(0, 0.8))
        out.append(_noisy(_paste(background, image, h, feather=0.08), rng))
    return out


def _photo_frames(p: _Portrait, background: np.ndarray, frames: int, rng, face_px):
    size = (background.shape[1], background.shape[0])
    scale, centre = _placement(p, size, rng, face_px)
    border = max(4, int(min(p.image.shape[:2]) * 0.05))
    paper = cv2.copyMakeBorder(
        p.image, border, border, border, border, cv2.BORDER_CONSTANT, value=(235, 235, 230)
    )
    shifted = _Portrait(paper, p.landmarks + border, p.face_px)
    out = []
    for _ in range(frames):
        shift = centre + rng.normal(0, 12, 2)
        h = _similarity(shifted, scale * rng.uniform(0.93, 1.07), shift, rng.uniform(-8, 8))
        tilt = np.eye(3)
        # The sheet leaning a little towards or away from the camera (perspective).
        tilt[2, :2] = rng.normal(0, 0.1 / size[0], 2)
        out.append(_noisy(_paste(background, paper, tilt @ h, feather=0.0), rng))
    return out


def render_gate_sequence(
    person_image: np.ndarray,
    *,
    live: bool,
    frames: int,
    seed: int,
    size: Size = (640, 480),
    face_px: float | None = None,
) -> list[np.ndarray]:
    """``frames`` RGB frames of ``size`` (width, height) of a live person or a photo attack.

    ``face_px``: face size in the frame (dlib box side); by default 22-30% of the height.
    """
    if frames < 1:
        raise ValueError("frames must be at least 1")
    rng = np.random.default_rng(seed)
    portrait = _portrait(person_image)
    background = empty_gate_frame(int(rng.integers(1 << 31)), size)
    make = _live_frames if live else _photo_frames
    return make(portrait, background, frames, rng, face_px)
