"""The OpenVINO-converted MTCNN networks compute what the Keras reference computes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ml.detection import FaceDetector, _load_stages
from ml.openvino_runtime import CompiledNetwork, cache_file, convert_cached


@pytest.fixture(scope="module")
def val_photos() -> list[np.ndarray]:
    """Two val photos of each person (real photos)."""
    root = Path(os.environ["FACES_DATASET"]) / "val"
    return [
        np.asarray(Image.open(path).convert("RGB"))
        for person in sorted(root.iterdir())
        for path in sorted(person.glob("*.jpg"))[:2]
    ]


def test_each_network_matches_keras_within_float_rounding():
    reference, _ = _load_stages("tensorflow")
    converted, _ = _load_stages("openvino")
    rng = np.random.default_rng(0)
    shapes = ((1, 240, 320, 3), (17, 24, 24, 3), (3, 48, 48, 3))
    for ref, ov, shape in zip(reference, converted, shapes, strict=True):
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        expected = [np.asarray(t) for t in ref._model(tf.constant(x))]
        got = [np.asarray(t) for t in ov._model(x)]
        assert [a.shape for a in got] == [a.shape for a in expected]
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-4)


def test_detector_finds_the_same_faces_on_real_photos(val_photos):
    keras_detector = FaceDetector.for_photos()
    openvino_detector = FaceDetector.for_photos(runtime="openvino")
    for rgb in val_photos:
        expected, got = keras_detector.detect(rgb), openvino_detector.detect(rgb)
        assert len(got) == len(expected) >= 1
        for a, b in zip(got, expected, strict=True):
            assert max(abs(p - q) for p, q in zip(a.box, b.box, strict=True)) <= 1
            assert abs(a.confidence - b.confidence) < 1e-3


def test_cached_ir_is_reused_and_an_unknown_precision_is_refused(tmp_path):
    graph = tf.function(
        lambda x: tf.nn.relu(x) * 2.0,
        input_signature=[tf.TensorSpec([None, 4], tf.float32)],
    )
    target = tmp_path / "double-relu.xml"
    convert_cached(graph.get_concrete_function(), target)
    stamp = target.stat().st_mtime_ns
    network = CompiledNetwork(convert_cached(graph.get_concrete_function(), target), outputs=1)
    assert target.stat().st_mtime_ns == stamp  # read back, not converted again
    x = np.array([[-1.0, 0.5, 2.0, -3.0]], dtype=np.float32)
    np.testing.assert_allclose(network(x)[0], [[0.0, 1.0, 4.0, 0.0]])
    with pytest.raises(ValueError, match="precision"):
        CompiledNetwork(convert_cached(graph.get_concrete_function(), target), precision="int4")
    assert cache_file("x").name.startswith("x-ov")


def test_auto_runtime_is_openvino_on_a_cpu_only_machine():
    from ml.recognition import resolve_runtime

    gpus = tf.config.get_visible_devices("GPU")
    assert resolve_runtime("auto") == ("tensorflow" if gpus else "openvino")
    assert resolve_runtime("tensorflow") == "tensorflow"
    with pytest.raises(ValueError, match="runtime"):
        resolve_runtime("tflite")


def test_an_unwritable_cache_still_gives_a_working_network(tmp_path):
    graph = tf.function(lambda x: x + 1.0, input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # the cache folder's place is taken: as unwritable as it gets for root
    target = blocker / "plus-one.xml"
    network = CompiledNetwork(convert_cached(graph.get_concrete_function(), target), outputs=1)
    np.testing.assert_allclose(network(np.zeros((1, 2), np.float32))[0], [[1.0, 1.0]])
    assert blocker.is_file()
