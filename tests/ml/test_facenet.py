"""Tests for ml.facenet: architecture, h5 weight loading and embedding quality."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from ml.facenet import (
    EMBEDDING_DIM,
    INPUT_SIZE,
    FaceNetEmbedder,
    ScaleSum,
    build_inception_resnet_v1,
    load_h5_weights,
    prewhiten,
)

EXPECTED_LAYERS = 426
EXPECTED_PARAMS = 22_808_144
# Two validation photos each of four people (5-celebrity-faces-dataset).
PEOPLE = ("ben_afflek", "elton_john", "jerry_seinfeld", "mindy_kaling")
PHOTOS_PER_PERSON = 2


def _h5_path() -> Path | None:
    candidates = [os.environ.get("FACENET_H5")]
    if os.environ.get("MODEL_DIR"):
        candidates.append(os.path.join(os.environ["MODEL_DIR"], "facenet_keras.h5"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="module")
def h5_path() -> Path:
    path = _h5_path()
    if path is None:
        pytest.fail("FaceNet weights not found: set FACENET_H5 or MODEL_DIR (facenet_keras.h5)")
    return path


@pytest.fixture(scope="module")
def embedder(h5_path: Path) -> FaceNetEmbedder:
    return FaceNetEmbedder(h5_path)


@pytest.fixture(scope="module")
def faces_by_person(h5_path: Path) -> dict[str, list[np.ndarray]]:
    """160x160 MTCNN face crops, keyed by person."""
    mtcnn = pytest.importorskip("mtcnn")
    from PIL import Image

    default = h5_path.parent.parent / "examples" / "5-celebrity-faces-dataset" / "val"
    root = Path(os.environ.get("FACENET_FACES_DIR", default))
    if not all((root / person).is_dir() for person in PEOPLE):
        pytest.fail(f"face photos not found under {root} (set FACENET_FACES_DIR)")

    detector = mtcnn.MTCNN()
    crops: dict[str, list[np.ndarray]] = {}
    for person in PEOPLE:
        for photo in sorted((root / person).glob("*.jpg")):
            image = np.asarray(Image.open(photo).convert("RGB"))
            detections = detector.detect_faces(image)
            if not detections:
                continue
            x, y, w, h = max(detections, key=lambda d: d["confidence"])["box"]
            x, y = max(x, 0), max(y, 0)
            crop = Image.fromarray(image[y : y + h, x : x + w]).resize((INPUT_SIZE, INPUT_SIZE))
            crops.setdefault(person, []).append(np.asarray(crop))
            if len(crops[person]) == PHOTOS_PER_PERSON:
                break
        assert len(crops.get(person, [])) == PHOTOS_PER_PERSON, f"too few faces for {person}"
    return crops


def test_architecture_matches_h5_model() -> None:
    model = build_inception_resnet_v1()
    assert len(model.layers) == EXPECTED_LAYERS
    assert model.count_params() == EXPECTED_PARAMS
    assert model.input_shape == (None, INPUT_SIZE, INPUT_SIZE, 3)
    assert model.output_shape == (None, EMBEDDING_DIM)
    assert sum(isinstance(layer, ScaleSum) for layer in model.layers) == 21


def test_layer_names_and_weight_shapes_match_h5(h5_path: Path) -> None:
    model = build_inception_resnet_v1()
    with h5py.File(h5_path, "r") as h5:
        stored = [name.decode() for name in h5["model_weights"].attrs["layer_names"]]
    assert sorted(layer.name for layer in model.layers) == sorted(stored)
    load_h5_weights(model, h5_path)  # raises on any missing layer or shape mismatch


def test_scale_sum_round_trips_through_config() -> None:
    layer = ScaleSum(0.17, name="Block35_1_ScaleSum")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, ScaleSum)
    assert restored.scale == pytest.approx(0.17)
    out = restored([np.ones((1, 2), np.float32), np.full((1, 2), 2.0, np.float32)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), [[1.34, 1.34]], rtol=1e-6)


def _tiny_model() -> keras.Model:
    inputs = keras.Input(shape=(4,))
    return keras.Model(inputs, keras.layers.Dense(2, name="Bottleneck")(inputs))


def _write_h5(path: Path, weights: dict[str, dict[str, np.ndarray]]) -> Path:
    """Write a Keras 2 style ``model_weights`` group."""
    with h5py.File(path, "w") as h5:
        group = h5.create_group("model_weights")
        group.attrs["layer_names"] = [name.encode() for name in weights]
        for layer_name, arrays in weights.items():
            layer_group = group.create_group(layer_name)
            names = [f"{layer_name}/{weight}:0" for weight in arrays]
            layer_group.attrs["weight_names"] = [name.encode() for name in names]
            for name, array in zip(names, arrays.values(), strict=True):
                layer_group.create_dataset(name, data=array)
    return path


def test_load_h5_weights_copies_by_name(tmp_path: Path) -> None:
    kernel = np.arange(8, dtype=np.float32).reshape(4, 2)
    bias = np.array([1.0, 2.0], np.float32)
    h5 = _write_h5(tmp_path / "w.h5", {"Bottleneck": {"bias": bias, "kernel": kernel}})
    model = _tiny_model()
    load_h5_weights(model, h5)
    np.testing.assert_array_equal(model.get_layer("Bottleneck").kernel.numpy(), kernel)
    np.testing.assert_array_equal(model.get_layer("Bottleneck").bias.numpy(), bias)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"Other": {"kernel": np.zeros((4, 2))}}, "no model layer"),
        ({}, "no weights for layer 'Bottleneck'"),
        ({"Bottleneck": {"kernel": np.zeros((4, 3)), "bias": np.zeros(2)}}, "has shape"),
        ({"Bottleneck": {"kernel": np.zeros((4, 2))}}, "has weights"),
    ],
)
def test_load_h5_weights_fails_clearly(
    tmp_path: Path, weights: dict[str, dict[str, np.ndarray]], message: str
) -> None:
    h5 = _write_h5(tmp_path / "w.h5", weights)
    with pytest.raises(ValueError, match=message):
        load_h5_weights(_tiny_model(), h5)


def test_prewhiten_standardizes_each_image() -> None:
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (2, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    white = prewhiten(faces)
    assert white.dtype == np.float32
    np.testing.assert_allclose(white.mean(axis=(1, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(white.std(axis=(1, 2, 3)), 1.0, atol=1e-4)
    flat = prewhiten(np.full((1, INPUT_SIZE, INPUT_SIZE, 3), 7, np.uint8))
    assert np.all(np.isfinite(flat)) and np.all(flat == 0)


def test_version_names_the_weights(embedder: FaceNetEmbedder) -> None:
    name, digest = embedder.version.split("@")
    assert name == "facenet-keras-inception-resnet-v1"
    assert len(digest) == 12 and int(digest, 16) >= 0


def test_embeddings_are_unit_float32(embedder: FaceNetEmbedder) -> None:
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (3, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    embeddings = embedder.embed(faces)
    assert embeddings.shape == (3, EMBEDDING_DIM)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert embedder.embed(faces[0]).shape == (1, EMBEDDING_DIM)
    assert embedder.embed(faces[:0]).shape == (0, EMBEDDING_DIM)
    with pytest.raises(ValueError, match="expected faces of shape"):
        embedder.embed(np.zeros((1, 100, 100, 3), np.uint8))


def test_batch_and_single_embeddings_agree(
    embedder: FaceNetEmbedder, faces_by_person: dict[str, list[np.ndarray]]
) -> None:
    faces = np.stack([face for crops in faces_by_person.values() for face in crops])
    batched = embedder.embed(faces)
    single = np.concatenate([embedder.embed(face) for face in faces])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_same_person_is_closer_than_different_people(
    embedder: FaceNetEmbedder, faces_by_person: dict[str, list[np.ndarray]]
) -> None:
    labels = np.array([person for person, crops in faces_by_person.items() for _ in crops])
    faces = np.stack([face for crops in faces_by_person.values() for face in crops])
    embeddings = embedder.embed(faces)
    cosine = embeddings @ embeddings.T
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    different = labels[:, None] != labels[None, :]
    # Measured on these photos: same-person >= 0.66, different people <= 0.15.
    assert cosine[same].min() > 0.5, cosine[same]
    assert cosine[different].max() < 0.35, cosine[different]
    assert cosine[same].min() - cosine[different].max() > 0.3


@pytest.mark.parametrize(("precision", "min_cosine"), [("f32", 0.99999), ("bf16", 0.995)])
def test_openvino_embeddings_match_the_keras_reference(
    embedder: FaceNetEmbedder,
    faces_by_person: dict[str, list[np.ndarray]],
    precision: str,
    min_cosine: float,
) -> None:
    converted = FaceNetEmbedder(embedder.h5_path, runtime="openvino", precision=precision)
    faces = np.stack([face for crops in faces_by_person.values() for face in crops])
    reference, got = embedder.embed(faces), converted.embed(faces)
    agreement = np.sum(reference * got, axis=1)
    assert agreement.min() > min_cosine, agreement
    # f32 computes the same function (templates stay valid); bf16 is a version of its own.
    assert (converted.version == embedder.version) == (precision == "f32")
    single = np.concatenate([converted.embed(face) for face in faces[:3]])
    np.testing.assert_allclose(single, got[:3], atol=1e-3 if precision == "bf16" else 1e-5)


def test_runtime_and_precision_are_checked(h5_path: Path) -> None:
    with pytest.raises(ValueError, match="runtime"):
        FaceNetEmbedder(h5_path, runtime="tflite")
    with pytest.raises(ValueError, match="f32 only"):
        FaceNetEmbedder(h5_path, precision="bf16")
