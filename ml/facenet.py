"""FaceNet (InceptionResNetV1) face embedder, rebuilt in Keras 3 from the legacy keras-facenet h5.

The h5 (saved by Keras 2.1.2) cannot be deserialized whole: its residual "ScaleSum" layers are
Lambdas holding Python 3.6 bytecode. So the graph is rebuilt here layer by layer, with exactly the
h5's layer names, and the weights are copied over by layer name with h5py.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path

import h5py
import keras
import numpy as np
import tensorflow as tf
from keras import layers

INPUT_SIZE = 160
EMBEDDING_DIM = 128
MODEL_NAME = "facenet-keras-inception-resnet-v1"

_BN_MOMENTUM = 0.995
_BN_EPSILON = 1e-3
_DROPOUT_RATE = 0.2  # 1 - keep_probability (0.8) of the original TF-slim model

# A branch is a sequence of (name suffix, filters, kernel size) conv-bn-relu units.
_Branch = Sequence[tuple[str, int, tuple[int, int]]]


@keras.saving.register_keras_serializable(package="facenet")
class ScaleSum(layers.Layer):
    """Residual merge ``shortcut + scale * residual``; replaces the h5's Lambda layers."""

    def __init__(self, scale: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        shortcut, residual = inputs
        return shortcut + residual * self.scale

    def compute_output_shape(self, input_shape: Sequence[tuple]) -> tuple:
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}


def _conv_bn_relu(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: tuple[int, int],
    name: str,
    strides: int = 1,
    padding: str = "same",
) -> keras.KerasTensor:
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=name
    )(x)
    x = layers.BatchNormalization(
        axis=3, momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, scale=False, name=f"{name}_BatchNorm"
    )(x)
    return layers.Activation("relu", name=f"{name}_Activation")(x)


def _branches(
    x: keras.KerasTensor, prefix: str, branches: Sequence[_Branch], reduce: bool = False
) -> list[keras.KerasTensor]:
    """Run each branch on ``x``; with ``reduce``, each branch's last conv is 3x3/2 "valid"."""
    outputs = []
    for index, branch in enumerate(branches):
        y = x
        for position, (suffix, filters, kernel_size) in enumerate(branch):
            strided = reduce and position == len(branch) - 1
            y = _conv_bn_relu(
                y,
                filters,
                kernel_size,
                f"{prefix}_Branch_{index}_Conv2d_{suffix}",
                strides=2 if strided else 1,
                padding="valid" if strided else "same",
            )
        outputs.append(y)
    return outputs


def _residual_block(
    x: keras.KerasTensor,
    prefix: str,
    branches: Sequence[_Branch],
    scale: float,
    activate: bool = True,
) -> keras.KerasTensor:
    mixed = layers.Concatenate(axis=3, name=f"{prefix}_Concatenate")(_branches(x, prefix, branches))
    up = layers.Conv2D(x.shape[-1], 1, padding="same", use_bias=True, name=f"{prefix}_Conv2d_1x1")(
        mixed
    )
    x = ScaleSum(scale, name=f"{prefix}_ScaleSum")([x, up])
    if activate:
        x = layers.Activation("relu", name=f"{prefix}_Activation")(x)
    return x


def _reduction_block(
    x: keras.KerasTensor, prefix: str, branches: Sequence[_Branch]
) -> keras.KerasTensor:
    outputs = _branches(x, prefix, branches, reduce=True)
    pool_name = f"{prefix}_Branch_{len(branches)}_MaxPool_1a_3x3"
    outputs.append(layers.MaxPooling2D(3, strides=2, name=pool_name)(x))
    return layers.Concatenate(axis=3, name=prefix)(outputs)


_BLOCK35 = (
    (("1x1", 32, (1, 1)),),
    (("0a_1x1", 32, (1, 1)), ("0b_3x3", 32, (3, 3))),
    (("0a_1x1", 32, (1, 1)), ("0b_3x3", 32, (3, 3)), ("0c_3x3", 32, (3, 3))),
)
_MIXED_6A = (
    (("1a_3x3", 384, (3, 3)),),
    (("0a_1x1", 192, (1, 1)), ("0b_3x3", 192, (3, 3)), ("1a_3x3", 256, (3, 3))),
)
_BLOCK17 = (
    (("1x1", 128, (1, 1)),),
    (("0a_1x1", 128, (1, 1)), ("0b_1x7", 128, (1, 7)), ("0c_7x1", 128, (7, 1))),
)
_MIXED_7A = (
    (("0a_1x1", 256, (1, 1)), ("1a_3x3", 384, (3, 3))),
    (("0a_1x1", 256, (1, 1)), ("1a_3x3", 256, (3, 3))),
    (("0a_1x1", 256, (1, 1)), ("0b_3x3", 256, (3, 3)), ("1a_3x3", 256, (3, 3))),
)
_BLOCK8 = (
    (("1x1", 192, (1, 1)),),
    (("0a_1x1", 192, (1, 1)), ("0b_1x3", 192, (1, 3)), ("0c_3x1", 192, (3, 1))),
)


def build_inception_resnet_v1() -> keras.Model:
    """Build the InceptionResNetV1 FaceNet graph (160x160x3 -> 128) with the h5's layer names."""
    inputs = keras.Input(shape=(INPUT_SIZE, INPUT_SIZE, 3), name="input_1")

    # Stem: 160x160x3 -> 17x17x256.
    x = _conv_bn_relu(inputs, 32, (3, 3), "Conv2d_1a_3x3", strides=2, padding="valid")
    x = _conv_bn_relu(x, 32, (3, 3), "Conv2d_2a_3x3", padding="valid")
    x = _conv_bn_relu(x, 64, (3, 3), "Conv2d_2b_3x3")
    x = layers.MaxPooling2D(3, strides=2, name="MaxPool_3a_3x3")(x)
    x = _conv_bn_relu(x, 80, (1, 1), "Conv2d_3b_1x1", padding="valid")
    x = _conv_bn_relu(x, 192, (3, 3), "Conv2d_4a_3x3", padding="valid")
    x = _conv_bn_relu(x, 256, (3, 3), "Conv2d_4b_3x3", strides=2, padding="valid")

    for i in range(1, 6):
        x = _residual_block(x, f"Block35_{i}", _BLOCK35, scale=0.17)

    x = _reduction_block(x, "Mixed_6a", _MIXED_6A)  # 17x17x256 -> 8x8x896

    for i in range(1, 11):
        x = _residual_block(x, f"Block17_{i}", _BLOCK17, scale=0.1)

    x = _reduction_block(x, "Mixed_7a", _MIXED_7A)  # 8x8x896 -> 3x3x1792

    for i in range(1, 6):
        x = _residual_block(x, f"Block8_{i}", _BLOCK8, scale=0.2)
    x = _residual_block(x, "Block8_6", _BLOCK8, scale=1.0, activate=False)

    # Head: 1792 -> 128 bottleneck, batch-normalized (L2 normalization is done by the caller).
    x = layers.GlobalAveragePooling2D(name="AvgPool")(x)
    x = layers.Dropout(_DROPOUT_RATE, name="Dropout")(x)
    x = layers.Dense(EMBEDDING_DIM, use_bias=False, name="Bottleneck")(x)
    x = layers.BatchNormalization(
        momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, scale=False, name="Bottleneck_BatchNorm"
    )(x)
    return keras.Model(inputs, x, name="inception_resnet_v1")


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _short_weight_name(name: str) -> str:
    """Map an h5 weight name such as ``Conv2d_1a_3x3_BatchNorm/beta:0`` to ``beta``."""
    return name.rsplit("/", 1)[-1].split(":", 1)[0]


def load_h5_weights(model: keras.Model, h5_path: str | Path) -> None:
    """Copy the weights of a Keras 2 h5 file into ``model``, matching layers by name."""
    with h5py.File(h5_path, "r") as h5:
        group = h5.get("model_weights", h5)
        if "layer_names" not in group.attrs:
            raise ValueError(f"{h5_path}: not a Keras h5 weights file (no layer_names)")
        stored = [_text(name) for name in group.attrs["layer_names"]]
        with_weights = {name for name in stored if len(group[name].attrs["weight_names"])}
        model_names = {layer.name for layer in model.layers}
        unused = sorted(with_weights - model_names)
        if unused:
            raise ValueError(f"{h5_path}: weights of layers {unused[:5]} have no model layer")

        for layer in model.layers:
            if not layer.weights:
                continue
            if layer.name not in group:
                raise ValueError(f"{h5_path}: no weights for layer {layer.name!r}")
            layer_group = group[layer.name]
            arrays = {
                _short_weight_name(_text(name)): np.asarray(layer_group[name])
                for name in layer_group.attrs["weight_names"]
            }
            wanted = [variable.name for variable in layer.weights]
            if sorted(arrays) != sorted(wanted):
                raise ValueError(
                    f"{h5_path}: layer {layer.name!r} has weights {sorted(arrays)}, "
                    f"model expects {sorted(wanted)}"
                )
            for variable in layer.weights:
                if arrays[variable.name].shape != tuple(variable.shape):
                    raise ValueError(
                        f"{h5_path}: {layer.name}/{variable.name} has shape "
                        f"{arrays[variable.name].shape}, model expects {tuple(variable.shape)}"
                    )
            layer.set_weights([arrays[name] for name in wanted])


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def prewhiten(faces: np.ndarray) -> np.ndarray:
    """Per-image standardization: ``(x - mean) / max(std, 1 / sqrt(size))`` as float32."""
    x = faces.astype(np.float32)
    axes = tuple(range(1, x.ndim))
    min_std = 1.0 / math.sqrt(math.prod(x.shape[1:]))  # Python float: keeps the math in float32
    mean = x.mean(axis=axes, keepdims=True)
    std = np.maximum(x.std(axis=axes, keepdims=True), min_std)
    return (x - mean) / std


RUNTIMES = ("tensorflow", "openvino")


class FaceNetEmbedder:
    """Turns 160x160 RGB face crops into L2-normalized 128-d FaceNet embeddings.

    `runtime` "tensorflow" runs the Keras graph (the reference); "openvino" runs the same graph
    converted by OpenVINO (cached IR, ml.openvino_runtime): in f32 its embeddings equal Keras's
    to ~1e-6 and it is 1.7x faster on this CPU, in bf16 (AVX512_BF16) 3.4x faster with embeddings
    within ~2e-4 cosine, so bf16 is a version of its own (bench/RESULTS.md, issue 15).
    """

    max_batch = 32
    dimension = EMBEDDING_DIM

    def __init__(
        self, h5_path: str | Path, runtime: str = "tensorflow", precision: str = "f32"
    ) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
        if runtime == "tensorflow" and precision != "f32":
            raise ValueError("the TensorFlow reference runs in f32 only")
        self.h5_path = Path(h5_path)
        self._sha256 = _file_sha256(self.h5_path)
        self.runtime, self.precision = runtime, precision
        self._network = self._forward = None
        if runtime == "openvino":
            self._network = self._compiled(precision)
        else:
            self._forward = self._keras_forward()
        self.embed(np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), np.uint8))  # trace + warm up

    @property
    def version(self) -> str:
        """Model identifier, e.g. ``facenet-keras-inception-resnet-v1@6acdd8fb1234``.

        f32 on either runtime computes the same function (one version); bf16 is named apart,
        so templates made in one precision are never compared with probes of the other."""
        suffix = "" if self.precision == "f32" else f"+{self.precision}"
        return f"{MODEL_NAME}@{self._sha256[:12]}{suffix}"

    def _keras_forward(self):
        """The Keras graph with the h5's weights, as a traced forward pass."""
        model = build_inception_resnet_v1()
        load_h5_weights(model, self.h5_path)
        return tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, INPUT_SIZE, INPUT_SIZE, 3], tf.float32)],
        )

    def _compiled(self, precision: str):
        """The OpenVINO network: read from the cache, else converted from the Keras graph,
        which is then not kept (holding both cost the worker ~200 MB)."""
        from ml.openvino_runtime import CompiledNetwork, cache_file, load_or_convert

        model = load_or_convert(
            cache_file(f"{MODEL_NAME}-{self._sha256[:12]}"),
            lambda: self._keras_forward().get_concrete_function(),
        )
        return CompiledNetwork(model, precision, outputs=1)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """The network's raw 128-d outputs for prewhitened faces."""
        if self._network is not None:
            return self._network(batch)[0]
        return self._forward(tf.constant(batch)).numpy()

    def embed(self, faces: np.ndarray) -> np.ndarray:
        """Embed uint8 RGB faces (N,160,160,3) or (160,160,3) into float32 unit vectors (N,128)."""
        faces = np.asarray(faces)
        if faces.ndim == 3:
            faces = faces[np.newaxis]
        if faces.ndim != 4 or faces.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(
                f"expected faces of shape (N, {INPUT_SIZE}, {INPUT_SIZE}, 3), got {faces.shape}"
            )
        if len(faces) == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        outputs = [
            self._run(prewhiten(faces[start : start + self.max_batch]))
            for start in range(0, len(faces), self.max_batch)
        ]
        embeddings = np.concatenate(outputs).astype(np.float32, copy=False)
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        return embeddings / np.maximum(norms, 1e-12)
