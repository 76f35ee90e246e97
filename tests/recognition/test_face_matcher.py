"""FaceMatcher: vectorised nearest-person search (pure numpy, no dlib)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recognition.face.matcher import FaceMatcher
from recognition.face.settings import MatchSettings


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def brute_force(persons, query):
    best = min(
        ((float(np.linalg.norm(e - query)), pid, role) for pid, role, enc in persons for e in enc),
        key=lambda t: t[0],
    )
    return best


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_persons=st.integers(1, 30), per=st.integers(1, 4))
def test_vectorised_match_equals_brute_force(seed, n_persons, per):
    rng = np.random.default_rng(seed)
    persons = [
        (f"p{i}", "resident" if i % 3 else "blacklist", unit(rng, per)) for i in range(n_persons)
    ]
    matcher = FaceMatcher(persons, MatchSettings(tolerance=10.0))
    queries = unit(rng, 5)
    for query, match in zip(queries, matcher.match_many(queries), strict=True):
        distance, pid, role = brute_force(persons, query)
        assert match.person == pid
        assert match.role == role
        assert match.distance == pytest.approx(distance, abs=1e-4)


def test_tolerance_decides_known_or_unknown():
    rng = np.random.default_rng(1)
    base = unit(rng, 1)[0]
    matcher = FaceMatcher([("alice", "resident", base[None])], MatchSettings(tolerance=0.5))
    near = base + 0.4 * unit(rng, 1)[0]  # distance exactly 0.4
    far = base + 0.6 * unit(rng, 1)[0]
    assert matcher.match(near).person == "alice"
    assert matcher.match(near).distance == pytest.approx(0.4, abs=1e-5)
    unknown = matcher.match(far)
    assert unknown.person is None and unknown.role is None
    assert unknown.distance == pytest.approx(0.6, abs=1e-5)


def test_ambiguous_match_is_refused():
    rng = np.random.default_rng(2)
    a, b = unit(rng, 2)
    mid = (a + b) / 2
    persons = [("a", "resident", a[None]), ("b", "resident", b[None])]
    query = mid + 0.01 * (a - b)  # marginally nearer to a
    assert FaceMatcher(persons, MatchSettings(tolerance=2.0)).match(query).person == "a"
    strict = FaceMatcher(persons, MatchSettings(tolerance=2.0, ambiguity_margin=0.1)).match(query)
    assert strict.person is None and strict.ambiguous


def test_several_encodings_per_person_use_the_closest():
    rng = np.random.default_rng(3)
    enc = unit(rng, 3)
    matcher = FaceMatcher([("bob", "resident", enc), ("eve", "blacklist", unit(rng, 1))])
    assert matcher.match(enc[2]).person == "bob"
    assert matcher.match(enc[2]).distance == pytest.approx(0.0, abs=1e-3)
    assert len(matcher) == 4


def test_empty_gallery_and_bundle():
    assert FaceMatcher([]).match(np.zeros(128)).distance == float("inf")
    rng = np.random.default_rng(4)
    enc = unit(rng, 2)
    bundle = {
        "version": 3,
        "site": "lakeside",
        "persons": [{"id": "r1", "role": "resident", "encodings": enc.tolist()}],
    }
    match = FaceMatcher.from_bundle(bundle).match(enc[1])
    assert (match.person, match.role) == ("r1", "resident")


def test_bad_role_and_duplicate_person_rejected():
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="role"):
        FaceMatcher([("x", "vip", unit(rng, 1))])
    with pytest.raises(ValueError, match="twice"):
        FaceMatcher([("x", "resident", unit(rng, 1)), ("x", "resident", unit(rng, 1))])
