"""Multi-frame voting: one decision per vehicle from several noisy frames."""

import pytest

from models.plate import PlateColor
from recognition.lpr import PlateDetection, PlateVoter

BOX = (100, 200, 150, 48)


def det(text: str, conf: float = 0.9, color: PlateColor = PlateColor.BLUE) -> PlateDetection:
    return PlateDetection(text, color, conf, BOX)


def test_undecided_until_min_frames() -> None:
    v = PlateVoter(min_frames=3, max_frames=8)
    v.add([det("浙HA1234")])
    v.add([det("浙HA1234")])
    assert v.result() is None
    v.add([det("浙HA1234")])
    r = v.result()
    assert r is not None and r.text == "浙HA1234" and r.frames == 3
    assert r.color is PlateColor.BLUE and r.box == BOX and r.confidence > 0.8


def test_per_character_majority_fixes_single_frame_errors() -> None:
    v = PlateVoter(min_frames=3, max_frames=8, min_confidence=0.3)
    for text in ("浙HA1234", "湘HA1234", "浙HA1284", "浙HA1234", "浙HB1234"):
        v.add([det(text)])
    r = v.result()
    assert r is not None and r.text == "浙HA1234"
    assert r.confidence < 0.9  # disagreement lowers the confidence


def test_confident_reads_outweigh_weak_ones() -> None:
    v = PlateVoter(min_frames=3, max_frames=8, min_confidence=0.3)
    v.add([det("京A12345", 0.95)])
    v.add([det("京A12845", 0.3)])
    v.add([det("京A12845", 0.3)])
    v.add([det("京A12345", 0.95)])
    r = v.result()
    assert r is not None and r.text == "京A12345"


def test_empty_frames_do_not_vote_but_count_towards_the_limit() -> None:
    v = PlateVoter(min_frames=3, max_frames=4)
    v.add([])
    v.add([det("浙HD12345", 0.95, PlateColor.GREEN)])
    v.add([])
    assert v.result() is None
    v.add([det("浙HD12345", 0.95, PlateColor.GREEN)])
    r = v.result()  # max_frames reached: decide on the two reads
    assert r is not None and r.text == "浙HD12345" and r.frames == 2
    assert r.color is PlateColor.GREEN


def test_nothing_read_gives_no_result_and_reset_starts_over() -> None:
    v = PlateVoter(min_frames=2, max_frames=3)
    for _ in range(5):
        v.add([])
    assert v.result() is None
    v.reset()
    assert v.frames_seen == 0
    v.add([det("浙HA1234")])
    v.add([det("浙HA1234")])
    assert v.result() is not None


def test_length_is_voted_first() -> None:
    v = PlateVoter(min_frames=3, max_frames=8, min_confidence=0.2)
    v.add([det("浙HD12345", 0.9, PlateColor.GREEN)])
    v.add([det("浙HD1234", 0.4)])
    v.add([det("浙HD12345", 0.9, PlateColor.GREEN)])
    assert v.result() is None  # only two reads of the winning length so far
    v.add([det("浙HD12345", 0.9, PlateColor.GREEN)])
    r = v.result()
    assert r is not None and r.text == "浙HD12345" and r.frames == 3


def test_only_the_best_detection_of_a_frame_votes() -> None:
    v = PlateVoter(min_frames=2, max_frames=8)
    v.add([det("浙HA1234", 0.9), det("沪B55555", 0.5)])
    v.add([det("浙HA1234", 0.9), det("沪B55555", 0.5)])
    r = v.result()
    assert r is not None and r.text == "浙HA1234"


def test_bad_limits_rejected() -> None:
    with pytest.raises(ValueError):
        PlateVoter(min_frames=5, max_frames=3)


def test_one_very_sure_grammatical_read_decides_at_once() -> None:
    v = PlateVoter(min_frames=3, sure_confidence=0.9)
    v.add([det("浙HA1234", 0.95)])
    r = v.result()
    assert r is not None and r.text == "浙HA1234" and r.frames == 1 and r.confidence == 0.95


def test_a_sure_read_waits_for_the_vote_when_single_is_off() -> None:
    v = PlateVoter(min_frames=3, sure_confidence=0.9)
    v.add([det("浙HA1234", 0.95)])
    assert v.result(single=False) is None


def test_doubtful_or_ungrammatical_or_contradicted_reads_keep_voting() -> None:
    v = PlateVoter(min_frames=3, sure_confidence=0.9)
    v.add([det("浙HA1234", 0.85)])
    assert v.result() is None  # not sure enough
    v = PlateVoter(min_frames=3, sure_confidence=0.9)
    v.add([det("浙HX12345", 0.99)])  # 8 characters but not a new-energy serial
    assert v.result() is None
    v = PlateVoter(min_frames=3, sure_confidence=0.9)
    v.add([det("浙HA1284", 0.7)])
    v.add([det("浙HA1234", 0.97)])
    assert v.result() is None  # an earlier frame read it otherwise


def test_sure_confidence_must_not_be_below_the_vote_bar() -> None:
    with pytest.raises(ValueError):
        PlateVoter(min_confidence=0.6, sure_confidence=0.5)


def test_two_fairly_sure_reads_alike_decide_on_the_second_frame() -> None:
    v = PlateVoter(min_frames=3, sure_confidence=0.9)
    v.add([det("浙HA1234", 0.82)])
    assert v.result() is None
    v.add([det("浙HA1234", 0.86)])
    r = v.result()
    assert r is not None and r.text == "浙HA1234" and r.frames == 2 and r.confidence == 0.84
    v = PlateVoter(min_frames=3, sure_confidence=0.9)
    v.add([det("浙HA1234", 0.82)])
    v.add([det("浙HA1234", 0.7)])  # one of them too doubtful: keep voting
    assert v.result() is None
    assert v.result(single=False) is None
