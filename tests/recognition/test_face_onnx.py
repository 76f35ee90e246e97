"""dlib's face ResNet run by onnxruntime gives dlib's own encodings on real photographs."""

from __future__ import annotations

from pathlib import Path

import dlib
import face_recognition_models
import numpy as np
import pytest
from face_recognition import api as fr_api

from recognition.face.detector import FaceStack, load_rgb
from recognition.face.resnet_onnx import BLOCKS, ModelFormatError, OnnxFaceEncoder, parse_model
from recognition.face.settings import DetectorSettings
from simulators.faces import FACES_DIR

MODEL = Path(face_recognition_models.face_recognition_model_location())
PEOPLE = ("obama", "obama2", "biden", "astronaut")


@pytest.fixture(scope="module")
def encoder() -> OnnxFaceEncoder:
    return OnnxFaceEncoder(MODEL)


def dlib_reference(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(aligned 150 px chip, dlib's own descriptor) for the one face in ``rgb``."""
    rect = fr_api.face_detector(rgb, 1)[0]
    shape = fr_api.pose_predictor_68_point(rgb, rect)
    descriptor = np.array(fr_api.face_encoder.compute_face_descriptor(rgb, shape, 1))
    return dlib.get_face_chip(rgb, shape, 150, 0.25), descriptor


def test_parser_reads_every_layer_of_the_shipped_model():
    weights = parse_model(MODEL.read_bytes())
    assert len(weights.convs) == 1 + 2 * len(BLOCKS) == 29
    assert weights.convs[0].weight.shape == (32, 3, 7, 7)
    assert weights.fc.shape == (256, 128)
    # dlib's input layer means (dnn/input.h defaults, stored in the file).
    assert weights.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)


@pytest.mark.parametrize("name", PEOPLE)
def test_onnx_descriptor_equals_dlibs_on_real_photos(encoder, name):
    chip, reference = dlib_reference(load_rgb(FACES_DIR / f"{name}.jpg"))
    ours = encoder.encode_chips(chip)[0]
    assert ours.shape == (128,)
    # Same-person distances here are 0.35-0.42 and different people 0.75 or more; the two
    # implementations agree to float rounding, five orders of magnitude below that.
    assert np.linalg.norm(ours - reference) < 1e-4


def test_batch_of_chips_gives_one_descriptor_each(encoder):
    chips = np.stack([dlib_reference(load_rgb(FACES_DIR / f"{n}.jpg"))[0] for n in PEOPLE[:3]])
    batch = encoder.encode_chips(chips)
    singles = np.stack([encoder.encode_chips(chip)[0] for chip in chips])
    assert batch.shape == (3, 128)
    assert np.allclose(batch, singles, atol=1e-5)
    assert np.linalg.norm(batch[0] - batch[1]) < 0.5 < np.linalg.norm(batch[0] - batch[2])


def test_face_stack_encodes_the_same_with_either_encoder():
    rgb = load_rgb(FACES_DIR / "obama2.jpg")
    fast = FaceStack(DetectorSettings(min_face_px=120)).observe(rgb, max_faces=1)[0]
    slow = FaceStack(DetectorSettings(min_face_px=120, encoder="dlib")).observe(rgb, max_faces=1)
    assert fast.box == slow[0].box
    assert np.linalg.norm(fast.encoding - slow[0].encoding) < 1e-4


def test_jitters_need_dlibs_encoder():
    with pytest.raises(ValueError, match="jitters"):
        DetectorSettings(jitters=5)
    assert DetectorSettings(jitters=5, encoder="dlib").jitters == 5


def test_wrong_chip_shape_is_refused(encoder):
    with pytest.raises(ValueError, match="150, 150, 3"):
        encoder.encode_chips(np.zeros((100, 100, 3), np.uint8))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data.replace(b"con_4", b"cnn_4"), id="unknown-layers"),
        pytest.param(lambda data: b"not a dlib model", id="garbage"),
    ],
)
def test_damaged_model_file_is_refused_with_a_reason(damage):
    with pytest.raises(ModelFormatError):
        parse_model(damage(MODEL.read_bytes()))
