"""LivenessChecker on synthetic landmarks and pixels (pure; the real-photo runs are in
test_face_real.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from recognition.face.liveness import (
    LivenessChecker,
    eye_aspect_ratio,
    planar_residual,
)
from recognition.face.settings import LivenessSettings


def synthetic_landmarks() -> np.ndarray:
    """A plausible iBUG 68-point face, inter-ocular distance 60 px, centred at (200, 200)."""
    pts = []
    for t in np.linspace(-1.2, 1.2, 17):  # jaw
        pts.append((200 + 75 * np.sin(t), 190 + 85 * np.cos(t) * 0.9))
    for cx in (170, 230):  # brows
        pts += [(cx - 22 + 11 * i, 158 - 5 * np.sin(np.pi * i / 4)) for i in range(5)]
    pts += [(200, 175 + 10 * i) for i in range(4)]  # nose bridge
    pts += [(186 + 7 * i, 218 + (2 if i in (0, 4) else 4)) for i in range(5)]  # nostrils
    for cx in (170, 230):  # eyes: corner, two upper, corner, two lower
        pts += [
            (cx - 14, 180),
            (cx - 5, 174),
            (cx + 5, 174),
            (cx + 14, 180),
            (cx + 5, 186),
            (cx - 5, 186),
        ]
    for t in np.linspace(0, 2 * np.pi, 12, endpoint=False):  # outer lips
        pts.append((200 - 26 * np.cos(t), 245 - 10 * np.sin(t)))
    for t in np.linspace(0, 2 * np.pi, 8, endpoint=False):  # inner lips
        pts.append((200 - 16 * np.cos(t), 245 - 4 * np.sin(t)))
    points = np.array(pts, dtype=np.float64)
    assert points.shape == (68, 2)
    return points


def random_homography(rng: np.random.Generator) -> np.ndarray:
    angle = np.radians(rng.uniform(-10, 10))
    scale = rng.uniform(0.9, 1.1)
    m = np.array(
        [
            [scale * np.cos(angle), -scale * np.sin(angle), rng.uniform(-20, 20)],
            [scale * np.sin(angle), scale * np.cos(angle), rng.uniform(-20, 20)],
            [rng.normal(0, 2e-4), rng.normal(0, 2e-4), 1.0],
        ]
    )
    return m


def warp(points: np.ndarray, h: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2), h).reshape(-1, 2)


def close_eyes(points: np.ndarray, amount: float = 0.8) -> np.ndarray:
    closed = points.copy()
    for eye in (range(36, 42), range(42, 48)):
        idx = list(eye)
        upper, lower = [idx[1], idx[2]], [idx[5], idx[4]]
        mid = (closed[upper] + closed[lower]) / 2
        closed[upper] += (mid - closed[upper]) * amount
        closed[lower] += (mid - closed[lower]) * amount
    return closed


def feed(frames, settings=None, images=None):
    checker = LivenessChecker(settings)
    verdict = None
    for i, points in enumerate(frames):
        verdict = checker.update(points, None if images is None else images[i])
    return verdict


def test_eye_aspect_ratio_drops_when_eyes_close():
    face = synthetic_landmarks()
    assert eye_aspect_ratio(face[36:42]) == pytest.approx(12 / 28, rel=1e-6)
    assert eye_aspect_ratio(close_eyes(face)[36:42]) < 0.3 * eye_aspect_ratio(face[36:42])


def test_rigidly_moved_photo_is_not_live():
    rng = np.random.default_rng(0)
    face = synthetic_landmarks()
    frames = [
        warp(face, random_homography(rng)) + rng.normal(0, 0.3, face.shape) for _ in range(10)
    ]
    verdict = feed(frames)
    assert not verdict.live
    assert verdict.reason == "rigid_motion_only"
    assert verdict.max_residual < LivenessSettings().nonrigid_residual
    assert planar_residual(frames[0], frames[1]) < 0.02


def test_identical_frames_are_static_and_too_few_frames_are_collecting():
    face = synthetic_landmarks()
    assert feed([face] * 6).reason == "static"
    assert feed([face] * 2).reason == "collecting"
    assert not feed([face] * 2).live


def test_blink_in_landmarks_is_live_even_while_moving():
    rng = np.random.default_rng(1)
    face = synthetic_landmarks()
    frames = []
    for i in range(8):
        points = close_eyes(face) if i in (3, 4) else face
        frames.append(warp(points, random_homography(rng)))
    verdict = feed(frames)
    assert verdict.live and verdict.reason == "blink" and verdict.blinks == 1


def test_tilting_a_photo_does_not_fake_a_blink():
    """Foreshortening squeezes the eyes of a tilted photo; pose normalisation undoes it."""
    face = synthetic_landmarks()
    frames = []
    for i in range(8):
        squash = np.diag([1.0, 0.55 if i in (3, 4) else 1.0, 1.0])  # strong vertical tilt
        frames.append(warp(face, squash))
    verdict = feed(frames)
    assert not verdict.live and verdict.blinks == 0


def test_non_rigid_motion_is_live():
    face = synthetic_landmarks()
    frames = []
    for i in range(8):
        points = face.copy()
        points[27:36, 0] += 9 * (-1) ** i  # the nose swings against the cheeks (head turn)
        points[48:68, 1] += 5 * (i % 2)  # and the mouth opens and closes
        frames.append(points)
    verdict = feed(frames)
    assert verdict.live and verdict.reason == "non_rigid_motion"


def face_image(points: np.ndarray, rng: np.random.Generator, eyes_open: bool = True) -> np.ndarray:
    """Grey face-like picture matching the landmarks: textured skin, dark brows and eyes."""
    skin = cv2.GaussianBlur(rng.normal(150, 25, (400, 400)).astype(np.float32), (0, 0), 2)
    img = np.clip(skin, 0, 255).astype(np.uint8)
    cv2.polylines(
        img, [points[17:22].astype(np.int32), points[22:27].astype(np.int32)], False, 40, 4
    )
    cv2.polylines(img, [points[27:36].astype(np.int32)], False, 90, 2)
    cv2.fillPoly(img, [points[48:60].astype(np.int32)], 100)
    if eyes_open:
        for eye in (points[36:42], points[42:48]):
            cv2.fillPoly(img, [eye.astype(np.int32)], 235)
            cv2.circle(img, tuple(eye.mean(0).astype(int)), 5, 20, -1)
    return img


def test_eye_patch_change_is_live_and_a_warped_photo_is_not():
    rng = np.random.default_rng(2)
    face = synthetic_landmarks()
    photo = face_image(face, rng)
    shut = photo.copy()
    shut_skin = face_image(face, np.random.default_rng(2), eyes_open=False)
    for eye in (face[36:42], face[42:48]):  # the same picture, eyes shut
        mask = np.zeros_like(photo)
        cv2.fillPoly(mask, [eye.astype(np.int32)], 1)
        mask = cv2.dilate(mask, np.ones((7, 7), np.uint8))
        shut[mask > 0] = shut_skin[mask > 0]
    # Landmarks stay those of open eyes: only the pixels tell (as dlib often does).
    rigid, live = [], []
    for i in range(6):
        h = random_homography(rng)
        moved = cv2.warpPerspective(photo, h, (400, 400))
        rigid.append((warp(face, h), moved))
        source = shut if i == 3 else photo
        live.append((warp(face, h), cv2.warpPerspective(source, h, (400, 400))))
    photo_verdict = feed([p for p, _ in rigid], images=[g for _, g in rigid])
    live_verdict = feed([p for p, _ in live], images=[g for _, g in live])
    assert not photo_verdict.live and photo_verdict.min_eye_ncc > 0.9
    assert live_verdict.live and live_verdict.reason == "eye_change"
    assert live_verdict.eye_changes == 1
