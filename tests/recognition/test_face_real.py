"""The face stack on real photographs (simulators/faces, see its README): same person
accepted, different people refused, live sequence accepted, photo attack refused."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from edge.pedestrian_gate.reader import GateFaceReader, face_match_payload
from edge.pedestrian_gate.rules import GateDirectory, decide_pedestrian
from models.messages import AlarmType, Decision, DecisionReason
from recognition.face.detector import FaceObservation, FaceStack, load_rgb
from recognition.face.liveness import LivenessChecker
from recognition.face.matcher import FaceMatcher
from recognition.face.quality import assess, check_image
from recognition.face.settings import DetectorSettings, MatchSettings
from simulators.faces import FACES_DIR
from simulators.people import empty_gate_frame, render_gate_sequence

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DIRECTORY = GateDirectory(site="lakeside", key=b"k" * 32)


@pytest.fixture(scope="module")
def photo():
    cache: dict[str, np.ndarray] = {}

    def load(name: str) -> np.ndarray:
        if name not in cache:
            cache[name] = load_rgb(FACES_DIR / f"{name}.jpg")
        return cache[name]

    return load


@pytest.fixture(scope="module")
def encoding(photo):
    def encode(name: str) -> np.ndarray:
        report = check_image(photo(name))
        assert report.ok, report.problems
        return report.face.encoding

    return encode


@pytest.fixture(scope="module")
def matcher(encoding) -> FaceMatcher:
    """Obama enrolled from two photos as a resident, Biden blacklisted; the astronaut not."""
    return FaceMatcher(
        [
            ("r-obama", "resident", np.array([encoding("obama"), encoding("obama2")])),
            ("b-biden", "blacklist", encoding("biden")[None]),
        ]
    )


def test_same_person_accepted_different_person_refused(encoding, matcher):
    tolerance = MatchSettings().tolerance
    same = matcher.match(encoding("obama3"))  # a third, unenrolled photo of the resident
    assert same.person == "r-obama" and same.distance < tolerance
    only_obama = FaceMatcher([("r-obama", "resident", np.array([encoding("obama")]))])
    for other in ("biden", "astronaut"):
        refused = only_obama.match(encoding(other))
        assert refused.person is None, other
        assert refused.distance > tolerance + 0.15  # far from the threshold, not marginal


@pytest.mark.parametrize("size", [(640, 480), (1280, 720)])
def test_gate_frames_show_one_face_of_gate_size(photo, size):
    stack = FaceStack()
    frame = render_gate_sequence(photo("biden"), live=True, frames=1, seed=3, size=size)[0]
    assert frame.shape == (size[1], size[0], 3)
    faces = stack.observe(frame)
    assert len(faces) == 1
    assert 80 <= faces[0].size <= 300
    assert faces[0].encoding.shape == (128,)
    assert stack.observe(empty_gate_frame(seed=3, size=size)) == []


def test_detection_plan_follows_the_smallest_face():
    assert DetectorSettings(min_face_px=80).plan() == (0.875, 0)
    assert DetectorSettings(min_face_px=140).plan() == (0.5, 0)
    assert DetectorSettings(min_face_px=50).plan() == (0.7, 1)
    assert DetectorSettings(min_face_px=20).plan() == (1.0, 1)


def test_small_faces_need_the_upsampling_plan(photo):
    portrait = photo("obama")  # face about 180 px: shrink it to about 45 px
    small = cv2.resize(portrait, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    frame = empty_gate_frame(seed=6)
    frame[100 : 100 + small.shape[0], 300 : 300 + small.shape[1]] = small
    assert FaceStack(DetectorSettings(min_face_px=80)).observe(frame, encode=False) == []
    [face] = FaceStack(DetectorSettings(min_face_px=40)).observe(frame, encode=False)
    assert 35 <= face.size <= 60 and 300 <= face.box[0] <= 300 + small.shape[1]


def test_roi_crop_keeps_frame_coordinates_and_ignores_faces_outside(photo):
    frame = render_gate_sequence(photo("obama"), live=True, frames=1, seed=4)[0]
    [whole] = FaceStack().observe(frame, encode=False)
    x, y, w, h = whole.box
    around = FaceStack(DetectorSettings(roi=(x - 60, y - 60, w + 120, h + 120)))
    [inside] = around.observe(frame, encode=False)
    # HOG boxes snap to its 8-px cell grid, which moves with the crop; landmarks settle.
    assert np.allclose(inside.box, whole.box, atol=0.1 * w)
    assert np.abs(inside.landmarks[17:] - whole.landmarks[17:]).max() <= 0.05 * w
    elsewhere = FaceStack(DetectorSettings(roi=(0, y + h + 10, 640, 480 - y - h - 10)))
    assert elsewhere.observe(frame) == []


def test_tracking_window_finds_the_same_face(photo):
    frames = render_gate_sequence(photo("astronaut"), live=True, frames=2, seed=5)
    stack = FaceStack()
    [first] = stack.observe(frames[0], encode=False)
    [tracked] = stack.observe(frames[1], encode=False, near=first.box)
    [searched] = stack.observe(frames[1], encode=False)
    assert np.allclose(tracked.box, searched.box, atol=0.1 * searched.size)
    assert np.abs(tracked.landmarks[17:] - searched.landmarks[17:]).max() <= 0.05 * searched.size


def read_passage(frames, matcher):
    reader = GateFaceReader(FaceStack(), matcher)
    for frame in frames:
        if reading := reader.feed(frame):
            return reading
    return None


@pytest.mark.parametrize("size", [(640, 480), (1280, 720)])
def test_live_resident_opens_the_gate(photo, matcher, size):
    frames = render_gate_sequence(photo("obama3"), live=True, frames=15, seed=11, size=size)
    reading = read_passage(frames, matcher)
    assert reading is not None and reading.liveness.live
    assert reading.attempt.person == "r-obama"
    decision = decide_pedestrian(reading.attempt, DIRECTORY, now=NOW)
    assert decision.decision is Decision.OPEN and decision.reason is DecisionReason.RESIDENT
    event = face_match_payload(reading, gate="east-walk").model_dump()
    assert event["person"] == "r-obama" and event["live"] is True
    assert set(event) == {"gate", "person", "distance", "live", "box"}  # no template


@pytest.mark.parametrize("size", [(640, 480), (1280, 720)])
def test_photo_of_a_resident_does_not_open_the_gate(photo, matcher, size):
    frames = render_gate_sequence(photo("obama3"), live=False, frames=15, seed=11, size=size)
    reading = read_passage(frames, matcher)
    assert reading is not None
    assert reading.attempt.person == "r-obama"  # the photo is recognised ...
    assert not reading.liveness.live  # ... but shows no sign of life
    assert reading.frames == 15
    decision = decide_pedestrian(reading.attempt, DIRECTORY, now=NOW)
    assert decision.decision is Decision.REFUSE and decision.reason is DecisionReason.NOT_LIVE


def test_blacklisted_person_refused_with_alarm_and_stranger_refused(photo, matcher):
    frames = render_gate_sequence(photo("biden"), live=True, frames=15, seed=12)
    reading = read_passage(frames, matcher)
    assert reading.attempt.person == "b-biden" and reading.frames == 1  # no need to wait
    decision = decide_pedestrian(reading.attempt, DIRECTORY, now=NOW)
    assert decision.reason is DecisionReason.BLACKLISTED and decision.alarm is AlarmType.BLACKLIST

    frames = render_gate_sequence(photo("astronaut"), live=True, frames=15, seed=12)
    reading = read_passage(frames, matcher)
    assert reading.attempt.person is None and reading.liveness.live
    decision = decide_pedestrian(reading.attempt, DIRECTORY, now=NOW)
    assert decision.reason is DecisionReason.UNKNOWN and decision.suspicious


def test_enrolment_quality_checks(photo):
    assert check_image(photo("obama")).ok
    partial = check_image(photo("obama_partial"))
    assert not partial.ok and any("border" in p for p in partial.problems)
    blurred = check_image(cv2.GaussianBlur(photo("obama"), (0, 0), 4))
    assert not blurred.ok
    assert any("blurred" in p or "one face" in p for p in blurred.problems)
    pair = np.hstack([photo("obama"), photo("biden")[:, :, :]])
    two = check_image(pair)
    assert two.problems == ["expected exactly one face, found 2"]
    none = check_image(empty_gate_frame(seed=1, size=(640, 480)))
    assert none.problems == ["expected exactly one face, found 0"]
    small = check_image(cv2.resize(photo("obama"), None, fx=0.3, fy=0.3))  # face ~60 px
    assert not small.ok


def test_turned_or_tilted_faces_are_refused(photo):
    [face] = FaceStack(DetectorSettings(min_face_px=80)).observe(photo("obama"))
    gray = cv2.cvtColor(photo("obama"), cv2.COLOR_RGB2GRAY)
    assert assess([face], gray).ok
    centre = face.landmarks.mean(0)
    angle = np.radians(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = FaceObservation(
        face.box, face.score, (face.landmarks - centre) @ rotation.T + centre, face.encoding
    )
    assert any("tilted" in p for p in assess([tilted], gray).problems)
    turned_points = face.landmarks.copy()
    turned_points[27:36, 0] += 0.4 * (face.landmarks[45, 0] - face.landmarks[36, 0])
    turned = FaceObservation(face.box, face.score, turned_points, face.encoding)
    assert any("sideways" in p for p in assess([turned], gray).problems)


def test_simulator_is_deterministic_and_never_repeats_a_frame(photo):
    a = render_gate_sequence(photo("biden"), live=False, frames=3, seed=9)
    b = render_gate_sequence(photo("biden"), live=False, frames=3, seed=9)
    c = render_gate_sequence(photo("biden"), live=False, frames=3, seed=10)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], a[1])
    assert np.array_equal(empty_gate_frame(2), empty_gate_frame(2))
    with pytest.raises(ValueError, match="no face"):
        render_gate_sequence(empty_gate_frame(1), live=True, frames=2, seed=1)


@pytest.mark.parametrize("live", [True, False])
def test_liveness_holds_at_the_smallest_gate_face(photo, live):
    """80-px faces: the smallest the gate geometry gives, where landmarks are noisiest."""
    stack, checker, verdict = FaceStack(), LivenessChecker(), None
    frames = render_gate_sequence(photo("biden"), live=live, frames=15, seed=31, face_px=80)
    for frame in frames:
        if faces := stack.observe(frame, encode=False, max_faces=1):
            assert faces[0].size < 110
            verdict = checker.update(faces[0].landmarks, frame)
    assert verdict is not None and verdict.frames >= 10
    assert verdict.live is live
