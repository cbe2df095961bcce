"""An operator's ONNX recognition model in FaceNet's place, on a tiny model the tests build."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from ml.detection import KEYPOINT_NAMES, DetectedFace
from ml.onnx_embedder import ARCFACE_KEYPOINTS_112, ModelFileError, OnnxFaceEmbedder
from tests.support import MODEL_DIR

DIMENSION = 16


def tiny_model(path: Path, channels_last: bool = False, side: int = 112) -> Path:
    """A real (random-weight) recognition-shaped network: conv, ReLU, pool, linear to 16-d."""
    rng = np.random.default_rng(7)
    shape = [None, side, side, 3] if channels_last else [None, 3, side, side]
    nodes, inputs = [], "image"
    if channels_last:
        nodes.append(helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]))
        inputs = "nchw"
    nodes += [
        helper.make_node("Conv", [inputs, "w"], ["c"], strides=[4, 4], kernel_shape=[5, 5]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["embedding"]),
    ]
    weights = [
        numpy_helper.from_array(rng.normal(0, 0.2, (8, 3, 5, 5)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(0, 1, (8, DIMENSION)).astype(np.float32), "fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-recognition",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [None, DIMENSION])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("operator") / "tiny-arcface.onnx")


@pytest.fixture(scope="module")
def val_photo() -> np.ndarray:
    root = Path(os.environ.get("FACES_DATASET", MODEL_DIR / "5-celebrity-faces-dataset"))
    path = sorted((root / "val" / "madonna").glob("*.jpg"))[0]
    return np.asarray(Image.open(path).convert("RGB"))


def test_the_model_is_checked_and_named(model_path):
    embedder = OnnxFaceEmbedder(model_path, providers=["CPUExecutionProvider"])
    assert (embedder.size, embedder.dimension, embedder.channels_first) == (112, DIMENSION, True)
    name, digest = embedder.version.split("@")
    assert name == "onnx-tiny-arcface" and len(digest) == 12
    faces = np.random.default_rng(1).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    out = embedder.embed(faces)
    assert out.shape == (3, DIMENSION) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(out[0], out[1])  # a real network: different faces, different vectors
    np.testing.assert_allclose(embedder.embed(faces[1]), out[1:2], atol=1e-6)
    assert embedder.embed(faces[:0]).shape == (0, DIMENSION)


def test_channels_last_models_get_the_same_embeddings(model_path, tmp_path):
    first = OnnxFaceEmbedder(model_path, providers=["CPUExecutionProvider"])
    last = OnnxFaceEmbedder(tiny_model(tmp_path / "nhwc.onnx", channels_last=True))
    assert not last.channels_first
    faces = np.random.default_rng(2).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    np.testing.assert_allclose(first.embed(faces), last.embed(faces), atol=1e-5)


def test_alignment_puts_the_keypoints_on_arcfaces_positions(model_path):
    embedder = OnnxFaceEmbedder(model_path)
    rgb = np.random.default_rng(3).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    offset = np.array([150.0, 90.0])  # a face whose keypoints sit at the reference, shifted
    keypoints = {
        name: tuple(point + offset)
        for name, point in zip(KEYPOINT_NAMES, ARCFACE_KEYPOINTS_112, strict=True)
    }
    face = DetectedFace((150, 90, 112, 112), 0.99, keypoints)
    crop = embedder.align(rgb, face)
    assert crop.shape == (112, 112, 3)
    inner = np.abs(crop[2:-2, 2:-2].astype(int) - rgb[92:200, 152:260].astype(int))
    assert inner.mean() < 1.0  # the same pixels: the transform is a pure shift


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a model", "not an ONNX model"), (None, "input must be")],
)
def test_unusable_files_are_refused_clearly(tmp_path, content, message):
    path = tmp_path / "bad.onnx"
    if content is None:  # a real model with an input no face crop fits (1 channel)
        model = onnx.load(tiny_model(tmp_path / "ok.onnx"))
        model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 1
        onnx.save(model, path)
    else:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        OnnxFaceEmbedder(path)
    with pytest.raises(ModelFileError, match="no such model file"):
        OnnxFaceEmbedder(tmp_path / "missing.onnx")


def test_the_analyzer_runs_an_operators_model_end_to_end(model_path, val_photo):
    from ml.recognition import TWO_VIEWS, FaceAnalyzer

    analyzer = FaceAnalyzer.from_model_dir(MODEL_DIR, model_file=model_path)
    assert analyzer.version.startswith("onnx-tiny-arcface@")
    assert analyzer.runtime == "onnxruntime-f32"
    faces = analyzer.analyze(val_photo)
    assert len(faces) == 1 and faces[0].embedding.shape == (DIMENSION,)
    assert faces[0].quality is not None and faces[0].quality.ok  # gated on the 160-px box crop
    face, templates = analyzer.enrollment_templates(val_photo)
    assert face.box == faces[0].face.box
    assert len(templates) == 21 and all(t.shape == (DIMENSION,) for _, t in templates)
    np.testing.assert_allclose(templates[0][1], faces[0].embedding, atol=1e-5)
    assert analyzer.analyze(np.zeros((480, 640, 3), np.uint8), "kiosk") == []
    with pytest.raises(ValueError, match="box pipeline"):
        FaceAnalyzer.from_model_dir(MODEL_DIR, views=TWO_VIEWS, model_file=model_path)
