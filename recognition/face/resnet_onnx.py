"""dlib's face-recognition ResNet, run by onnxruntime instead of dlib's own CPU code.

The ``dlib-bin`` wheel is built without BLAS, so its encoder spends 100-200 ms per face on
this machine's single core, more than the whole per-frame budget. The network is small
(29 convolutions on a 150x150 chip): onnxruntime runs it in a fraction of
that. Nothing is downloaded: the weights are read from the model file that
``face_recognition_models`` ships, and the ONNX graph is built from them in memory at
start-up (about a second). ``tests/test_46_face_onnx.py`` checks that both give the same
128-d encoding on real photographs.

The layer layout is dlib's ``dnn_face_recognition_ex.cpp`` network (the model file stores
the weights, not the layout): a 7x7/2 convolution, a 3x3/2 max-pool, residual levels of
32x3, 64x4, 128x3, 256x3 channels and one more of 256 (the first block of each level
after the first one downsamples), a global average pool and a 128x256 matrix without
bias. The parser checks every layer's tag, shape, stride and padding against that layout
as it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

INPUT_SIZE = 150  # dlib's chip size for this model (input_rgb_image_sized<150>)
CHIP_PADDING = 0.25  # what dlib's compute_face_descriptor uses around the landmarks
# Residual blocks, input side first: (channels, downsamples). dlib's example net: 3 blocks
# of 32, 4 of 64, 3 of 128, 3 of 256, then one more downsampling block of 256.
BLOCKS = (
    ((32, False),) * 3
    + ((64, True),)
    + ((64, False),) * 3
    + ((128, True),)
    + ((128, False),) * 2
    + ((256, True),)
    + ((256, False),) * 2
    + ((256, True),)
)


class ModelFormatError(ValueError):
    """The model file is not the dlib face-recognition ResNet this module understands."""


@dataclass(frozen=True, slots=True)
class Conv:
    weight: np.ndarray  # (out, in, kh, kw) float32, cross-correlation like ONNX Conv
    bias: np.ndarray  # (out,)
    stride: int
    padding: int


@dataclass(frozen=True, slots=True)
class Affine:
    """dlib's inference-time batch norm: y = gamma * x + beta per channel."""

    gamma: np.ndarray
    beta: np.ndarray


@dataclass(frozen=True, slots=True)
class ResnetWeights:
    mean_rgb: tuple[float, float, float]
    convs: list[Conv]  # in network order, input side first
    affines: list[Affine]  # one after each convolution
    fc: np.ndarray  # (256, 128): descriptor = pooled @ fc


class _Reader:
    """Cursor over dlib's serialisation format (``dlib/serialize.h``, ``dnn/tensor.h``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def int(self) -> int:
        # Compact integer: one control byte (low nibble = byte count, 0x80 = negative),
        # then that many little-endian bytes.
        if self.pos >= len(self.data):
            raise ModelFormatError("model file ends in the middle of a layer")
        control = self.data[self.pos]
        size = control & 0x0F
        if size == 0 or size > 8:
            raise ModelFormatError(f"bad integer control byte {control:#x} at {self.pos}")
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def float(self) -> float:
        # dlib's portable float: mantissa (int64) * 2 ** exponent (int16).
        mantissa = self.int()
        exponent = self.int()
        return float(mantissa) * 2.0**exponent

    def string(self) -> str:
        size = self.int()
        text = self.data[self.pos : self.pos + size].decode("ascii", "replace")
        self.pos += size
        return text

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise ModelFormatError(f"tensor format version {version}, expected 2")
        dims = [self.int() for _ in range(4)]  # num_samples, k, nr, nc
        count = int(np.prod(dims))
        if self.pos + 4 * count > len(self.data):
            raise ModelFormatError(f"tensor {dims} runs past the end of the model file")
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return values.astype(np.float32)

    def seek_tag(self, tag: str) -> None:
        """Move past the next serialised string ``tag`` (layer tags are strings)."""
        needle = bytes([0x01, len(tag)]) + tag.encode()
        found = self.data.find(needle, self.pos)
        if found < 0:
            raise ModelFormatError(f"layer {tag!r} not found after byte {self.pos}")
        self.pos = found + len(needle)


def _read_conv(reader: _Reader, in_channels: int, out_channels: int, kernel: int) -> Conv:
    reader.seek_tag("con_4")
    params = reader.tensor()
    filters, rows, cols = reader.int(), reader.int(), reader.int()
    stride_y, stride_x, pad_y, pad_x = (reader.int() for _ in range(4))
    if (filters, rows, cols) != (out_channels, kernel, kernel):
        raise ModelFormatError(
            f"convolution {filters}x{rows}x{cols}, expected {out_channels}x{kernel}x{kernel}"
        )
    if stride_y != stride_x or pad_y != pad_x:
        raise ModelFormatError("non-square stride or padding")
    n_weights = out_channels * in_channels * kernel * kernel
    if params.size != n_weights + out_channels:
        raise ModelFormatError(f"convolution has {params.size} parameters, not {n_weights}+bias")
    weight = params[:n_weights].reshape(out_channels, in_channels, kernel, kernel)
    return Conv(weight, params[n_weights:], stride_y, pad_y)


def _read_affine(reader: _Reader, channels: int) -> Affine:
    reader.seek_tag("affine_")
    params = reader.tensor()
    if params.size != 2 * channels:
        raise ModelFormatError(f"affine layer has {params.size} parameters, not 2x{channels}")
    return Affine(params[:channels], params[channels:])


def parse_model(data: bytes) -> ResnetWeights:
    """The weights of ``dlib_face_recognition_resnet_model_v1.dat`` (pure: bytes in)."""
    reader = _Reader(data)
    reader.seek_tag("input_rgb_image_sized")
    mean_rgb = (reader.float(), reader.float(), reader.float())
    convs: list[Conv] = []
    affines: list[Affine] = []

    def conv_affine(in_ch: int, out_ch: int, kernel: int) -> None:
        convs.append(_read_conv(reader, in_ch, out_ch, kernel))
        affines.append(_read_affine(reader, out_ch))

    conv_affine(3, 32, 7)
    in_ch = 32
    for channels, down in BLOCKS:
        conv_affine(in_ch, channels, 3)
        conv_affine(channels, channels, 3)
        if convs[-2].stride != (2 if down else 1) or convs[-1].stride != 1:
            raise ModelFormatError(f"block of {channels}: strides do not match the layout")
        in_ch = channels
    reader.seek_tag("fc_2")
    outputs, inputs = reader.int(), reader.int()
    fc = reader.tensor()
    if (outputs, inputs, fc.size) != (128, 256, 128 * 256):
        raise ModelFormatError(f"final layer {inputs}->{outputs} with {fc.size} weights")
    return ResnetWeights(mean_rgb, convs, affines, fc.reshape(256, 128))


def build_onnx(weights: ResnetWeights) -> bytes:
    """An ONNX model: input ``chips`` (N, 150, 150, 3) uint8 RGB -> ``descriptors`` (N, 128).

    Each affine layer is folded into the convolution before it. dlib's residual sum adds
    tensors of different shapes where they overlap (zeros elsewhere): the shortcut has fewer
    channels after a downsampling block, and at 8x8 -> 3x3/4x4 the two branches differ in
    size. Both are reproduced with zero padding before the Add.
    """
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    counter = iter(range(10_000))

    def name(prefix: str) -> str:
        return f"{prefix}{next(counter)}"

    def const(array: np.ndarray, prefix: str = "c") -> str:
        tensor_name = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(array), tensor_name))
        return tensor_name

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        out = name(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(x: str, index: int) -> str:
        c, a = weights.convs[index], weights.affines[index]
        w = c.weight * a.gamma[:, None, None, None]
        b = c.bias * a.gamma + a.beta
        k = c.weight.shape[-1]
        return node(
            "Conv",
            [x, const(w.astype(np.float32)), const(b.astype(np.float32))],
            kernel_shape=[k, k],
            strides=[c.stride, c.stride],
            pads=[c.padding] * 4,
        )

    def relu(x: str) -> str:
        return node("Relu", [x])

    def pad_to(x: str, extra_channels: int, extra_hw: int) -> str:
        if extra_channels == 0 and extra_hw == 0:
            return x
        pads = const(np.array([0, 0, 0, 0, 0, extra_channels, extra_hw, extra_hw], np.int64))
        return node("Pad", [x, pads], mode="constant")

    # uint8 NHWC RGB -> float NCHW, (pixel - mean) / 256 as dlib's input layer does.
    x = node("Cast", ["chips"], to=TensorProto.FLOAT)
    x = node("Sub", [x, const(np.array(weights.mean_rgb, np.float32))])
    x = node("Mul", [x, const(np.array(1 / 256, np.float32))])
    x = node("Transpose", [x], perm=[0, 3, 1, 2])
    x = node("MaxPool", [relu(conv(x, 0))], kernel_shape=[3, 3], strides=[2, 2])
    index, size, in_ch = 1, 35, 32  # 150 -> 7x7/2 -> 72 -> 3x3/2 -> 35
    for channels, down in BLOCKS:
        y = relu(conv(x, index))
        y = conv(y, index + 1)
        index += 2
        if down:
            shortcut = node("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
            pooled_size, block_size = (size - 2) // 2 + 1, (size - 3) // 2 + 1
            size = max(pooled_size, block_size)
            shortcut = pad_to(shortcut, channels - in_ch, size - pooled_size)
            y = pad_to(y, 0, size - block_size)
        else:
            shortcut = x
        x = relu(node("Add", [y, shortcut]))
        in_ch = channels
    x = node("GlobalAveragePool", [x])
    x = node("Flatten", [x])
    nodes.append(helper.make_node("MatMul", [x, const(weights.fc)], ["descriptors"]))
    graph = helper.make_graph(
        nodes,
        "dlib_face_recognition_resnet_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", 150, 150, 3])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["n", 128])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    serialized: bytes = model.SerializeToString()
    return serialized


class OnnxFaceEncoder:
    """128-d face descriptors equal to dlib's (to float rounding), from 150x150 chips."""

    def __init__(self, model_path: Path | str | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        if model_path is None:
            import face_recognition_models

            model_path = face_recognition_models.face_recognition_model_location()
        weights = parse_model(Path(model_path).read_bytes())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            build_onnx(weights), options, providers=["CPUExecutionProvider"]
        )

    def encode_chips(self, chips: np.ndarray) -> np.ndarray:
        """(N, 150, 150, 3) uint8 RGB chips -> (N, 128) float32 descriptors."""
        if chips.ndim == 3:
            chips = chips[None]
        if chips.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3) or chips.dtype != np.uint8:
            raise ValueError(f"expected (N, 150, 150, 3) uint8 chips, got {chips.shape}")
        out: np.ndarray = self._session.run(
            ["descriptors"], {"chips": np.ascontiguousarray(chips)}
        )[0]
        return out
