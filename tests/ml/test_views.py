"""The embedding views (ml.alignment.align_to_landmarks, FaceAnalyzer views), population-centred
cosines (ml.classifier center, ml.population)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from ml.alignment import CANONICAL_KEYPOINTS_160, LANDMARK_SCALE, align_to_landmarks
from ml.classifier import OpenSetClassifier, centred
from ml.detection import KEYPOINT_NAMES, DetectedFace
from ml.population import population_mean

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]


def _tilted_face() -> tuple[np.ndarray, DetectedFace]:
    """A 640x480 image with a coloured dot on each of five keypoints of a face turned 20 deg."""
    image = np.zeros((480, 640, 3), np.uint8)
    base = (CANONICAL_KEYPOINTS_160 - 80.0) * 1.7  # a face ~1.7x the crop's size
    angle = np.radians(20.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = base @ rotation.T + (300.0, 220.0)
    for point, colour in zip(points, COLOURS, strict=True):
        cv2.circle(image, (round(point[0]), round(point[1])), 6, colour, -1)
    keypoints = {name: tuple(p) for name, p in zip(KEYPOINT_NAMES, points, strict=True)}
    return image, DetectedFace((200, 100, 200, 240), 0.99, keypoints)


def test_landmark_view_puts_the_keypoints_on_the_canonical_positions():
    image, face = _tilted_face()
    crop = align_to_landmarks(image, face)
    assert crop.shape == (160, 160, 3) and crop.dtype == np.uint8
    expected = (CANONICAL_KEYPOINTS_160 - 80.0) * LANDMARK_SCALE + 80.0
    for target, colour in zip(expected, COLOURS, strict=True):
        mask = np.all(np.abs(crop.astype(int) - colour) < 60, axis=2)
        ys, xs = np.nonzero(mask)
        assert len(xs) > 10, colour
        assert np.hypot(xs.mean() - target[0], ys.mean() - target[1]) < 1.5


def test_centred_classifier_round_trips_and_differs_from_raw():
    rng = np.random.default_rng(3)
    shared = rng.normal(size=128) * 2.0  # a component every embedding has, like FaceNet's
    centres = rng.normal(size=(3, 128))
    x = np.concatenate([c + shared + rng.normal(0, 0.4, (15, 128)) for c in centres])
    y = np.repeat([4, 5, 6], 15)
    groups = np.arange(len(x)) // 3
    population = shared + rng.normal(0, 1.0, (200, 128))
    center = (population / np.linalg.norm(population, axis=1, keepdims=True)).mean(axis=0)
    raw = OpenSetClassifier.fit(x, y, 0.3, groups=groups)
    clf = OpenSetClassifier.fit(x, y, 0.3, groups=groups, center=center)
    stranger = shared + rng.normal(size=(5, 128))
    # Centring removes the shared component: strangers fall, the people stay apart.
    assert max(m.similarity for m in clf.predict(stranger)) < min(
        m.similarity for m in raw.predict(stranger)
    )
    assert [m.label for m in clf.predict(x)] == y.tolist()
    loaded = OpenSetClassifier.from_bytes(clf.to_bytes())
    assert np.allclose(loaded.center, center, atol=1e-6)
    assert [m.similarity for m in loaded.predict(stranger)] == pytest.approx(
        [m.similarity for m in clf.predict(stranger)], abs=1e-6
    )
    assert OpenSetClassifier.from_bytes(raw.to_bytes()).center is None  # raw stays raw
    assert np.allclose(centred(x, None), x / np.linalg.norm(x, axis=1, keepdims=True))


def test_population_mean_is_used_only_for_its_own_embedder_version(tmp_path):
    path = tmp_path / "population_mean.json"
    path.write_text(json.dumps({"embedder_version": "model@1+views", "mean": [0.5] * 128}))
    assert population_mean("model@1+views", path).shape == (128,)
    assert population_mean("model@1", path) is None
    assert population_mean("model@1", tmp_path / "missing.json") is None


def test_the_stored_population_mean_matches_the_two_view_pipeline():
    from ml.population import POPULATION_FILE, POPULATION_SEEDS

    data = json.loads(POPULATION_FILE.read_text())
    assert data["embedder_version"].endswith("+box+landmarks0.9")
    assert data["seeds"] == [POPULATION_SEEDS[0], POPULATION_SEEDS[-1]]
    assert data["faces"] >= 400 and len(data["mean"]) == 128
    # Disjoint from the strangers the tests and benches measure with.
    from ml.strangers import STRANGER_SEEDS

    assert not set(POPULATION_SEEDS) & set(STRANGER_SEEDS)


def test_generated_faces_lean_towards_the_stored_population_mean(loaded_models):
    """The stored mean belongs to this pipeline: fresh generated faces (seeds outside the
    population's) lean towards it (measured: median cosine 0.44 on 720 such faces, against 0.05
    for the real val photos), and the builder averages them."""
    from ml.generator import load_generator
    from ml.population import compute_population_mean
    from ml.recognition import TWO_VIEWS, FaceAnalyzer
    from ml.strangers import generated_stranger_embeddings
    from tests.support import MODEL_DIR

    box = loaded_models.get("faces")
    two = FaceAnalyzer(box.detectors["photo"], box.detectors["kiosk"], box.embedder, TWO_VIEWS)
    generator = load_generator(MODEL_DIR, "cpu")
    seeds = range(95_000, 95_004)
    embeddings = generated_stranger_embeddings(two, generator, seeds)
    stored = population_mean(two.version)
    assert stored is not None
    direction = stored / np.linalg.norm(stored)
    assert float(embeddings.mean(axis=0) @ direction) > 0.25
    data = compute_population_mean(two, generator, seeds)
    assert data["embedder_version"] == two.version and data["faces"] == len(embeddings)
    assert np.allclose(data["mean"], embeddings.mean(axis=0), atol=1e-5)
