"""The ONNX colorizer slot, loaded by the real loader on tiny models the test builds with onnx."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ml.restore.color import grey_rgb, rgb_to_lab
from ml.restore.colorize import colorize
from ml.restore.errors import ModelFileError
from ml.restore.model_slot import OnnxColorizer
from tests.ml.restore_photos import colour_photos, load_rgb


def tiny_colorizer(path, side=32, metadata=None, channels=2) -> None:
    """A 1x1 convolution: a = 0.5 (L - 50), b = 30 - 0.2 L (a toy, but a real ONNX graph)."""
    weight = np.array([[[[0.5]]], [[[-0.2]]], [[[0.0]]]], np.float32)[:channels]
    bias = np.array([-25.0, 30.0, 0.0], np.float32)[:channels]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["L", "w", "b"], ["ab"])],
        "tiny_colorizer",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, [1, 1, side, side])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, [1, channels, side, side])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def photo(dataset) -> np.ndarray:
    return load_rgb(colour_photos(dataset, "val", "jerry_seinfeld")[0])


def test_model_prediction_follows_its_graph(tmp_path, photo):
    tiny_colorizer(tmp_path / "tiny.onnx")
    model = OnnxColorizer(tmp_path / "tiny.onnx")
    assert (model.height, model.width) == (32, 32)
    lightness = rgb_to_lab(grey_rgb(photo))[:, :, 0]
    ab = model.predict_ab(lightness)
    assert ab.shape == (*lightness.shape, 2)
    # Averaged over the photo, the toy's formula holds through the resizing.
    assert abs(ab[:, :, 0].mean() - (0.5 * lightness.mean() - 25)) < 1.0
    assert abs(ab[:, :, 1].mean() - (30 - 0.2 * lightness.mean())) < 1.0


def test_colorize_with_the_model_and_a_hint(tmp_path, photo):
    tiny_colorizer(tmp_path / "tiny.onnx")
    model = OnnxColorizer(tmp_path / "tiny.onnx")
    old = grey_rgb(photo)
    result = colorize(old, model=model)
    assert result.sources == ["model"]
    lab = rgb_to_lab(result.rgb)
    bright = lab[:, :, 0] > 70
    dark = (lab[:, :, 0] > 20) & (lab[:, :, 0] < 35)
    # Bright parts come out red-ish (a > 0), dark ones green-ish (a < 0), as the graph says.
    assert lab[:, :, 1][bright].mean() > 5 > -5 > lab[:, :, 1][dark].mean()


def test_metadata_rescales_input_and_output(tmp_path, photo):
    tiny_colorizer(tmp_path / "scaled.onnx", metadata={"l_offset": "50", "l_scale": "0.01",
                                                       "ab_scale": "110"})  # fmt: skip
    model = OnnxColorizer(tmp_path / "scaled.onnx")
    lightness = np.full((40, 40), 70.0, np.float32)
    ab = model.predict_ab(lightness)
    # Input (70 - 50) * 0.01 = 0.2 -> (0.1 - 25, 30 - 0.04) -> x 110
    assert np.allclose(ab[20, 20], [(0.1 - 25) * 110, (30 - 0.04) * 110], atol=0.5)


def test_bad_model_files_are_refused(tmp_path):
    with pytest.raises(ModelFileError) as caught:
        OnnxColorizer(tmp_path / "absent.onnx")
    assert caught.value.code == "model_missing"
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        OnnxColorizer(tmp_path / "junk.onnx")
    tiny_colorizer(tmp_path / "three.onnx", channels=3)
    with pytest.raises(ModelFileError):
        OnnxColorizer(tmp_path / "three.onnx").predict_ab(np.zeros((8, 8), np.float32))
