"""Tests for ml.classifier (open-set SVC + centroid rejection) and ml.augment."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from ml.augment import VARIATIONS, augment_face
from ml.classifier import OpenSetClassifier

DIM = 128
THRESHOLD = 0.7
SAMPLES = 20


def _unit(rows: np.ndarray) -> np.ndarray:
    """L2-normalize rows."""
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def _cluster(centre: np.ndarray, n: int, rng: np.random.Generator, spread: float = 0.05):
    """`n` unit vectors tightly around a unit `centre` (cosine to it about 0.87)."""
    return _unit(centre + rng.normal(0.0, spread, (n, DIM))).astype(np.float32)


def _dataset(people: int, seed: int = 0):
    """Clustered unit embeddings: (embeddings, labels, centres); labels are 10, 11, ..."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(people, DIM)))
    embeddings = np.concatenate([_cluster(c, SAMPLES, rng) for c in centres])
    labels = np.repeat(np.arange(10, 10 + people), SAMPLES)
    return embeddings, labels, centres


def _stranger(seed: int = 99, n: int = 5) -> np.ndarray:
    """Samples from a new random cluster, unrelated to the enrolled people."""
    rng = np.random.default_rng(seed)
    return _cluster(_unit(rng.normal(size=DIM)), n, rng)


def test_known_samples_are_named_with_similarity_above_threshold():
    x, y, centres = _dataset(people=4)
    clf = OpenSetClassifier.fit(x, y, threshold=THRESHOLD)
    assert clf.coef.shape == (4, DIM)

    rng = np.random.default_rng(7)
    fresh = np.concatenate([_cluster(c, 5, rng) for c in centres])
    fresh_labels = np.repeat(np.arange(10, 14), 5)
    for data, labels in ((x, y), (fresh, fresh_labels)):
        matches = clf.predict(data)
        assert [m.label for m in matches] == labels.tolist()
        assert all(m.known and m.candidate == m.label for m in matches)
        assert all(m.similarity >= THRESHOLD for m in matches)


def test_stranger_is_rejected_although_svc_offers_a_candidate():
    x, y, _ = _dataset(people=4)
    clf = OpenSetClassifier.fit(x, y, threshold=THRESHOLD)
    for match in clf.predict(_stranger()):
        assert match.label is None and not match.known
        assert match.candidate in set(y.tolist())
        assert match.similarity < THRESHOLD


def test_threshold_decides_between_known_and_unknown():
    x, y, _ = _dataset(people=3)
    lenient = OpenSetClassifier.fit(x, y, threshold=-1.0, min_margin=0.0)
    assert all(m.known for m in lenient.predict(_stranger()))
    strict = OpenSetClassifier.fit(x, y, threshold=1.01)
    assert not any(m.known for m in strict.predict(x))


def test_single_enrolled_person_uses_centroid_only_and_rejects_strangers():
    x, y, _ = _dataset(people=1)
    clf = OpenSetClassifier.fit(x, y, threshold=THRESHOLD)
    assert clf.coef is None and clf.intercept is None
    assert clf.classes.tolist() == [10]
    assert [m.label for m in clf.predict(x)] == [10] * SAMPLES
    strangers = clf.predict(_stranger())
    assert all(m.label is None and m.candidate == 10 for m in strangers)


def test_two_people_use_binary_svc_and_both_are_named():
    x, y, centres = _dataset(people=2, seed=3)
    clf = OpenSetClassifier.fit(x, y, threshold=THRESHOLD)
    assert clf.coef.shape == (1, DIM)
    assert clf.intercept.shape == (1,)
    assert [m.label for m in clf.predict(x)] == y.tolist()
    # Each centre alone, in either order, goes to its own person.
    assert [m.label for m in clf.predict(centres[::-1])] == [11, 10]


def test_unnormalized_input_is_normalized_before_prediction():
    x, y, _ = _dataset(people=3)
    clf = OpenSetClassifier.fit(x * 17.0, y, threshold=THRESHOLD)
    scaled = clf.predict(x[:5] * 0.01)
    plain = clf.predict(x[:5])
    assert [m.label for m in scaled] == [m.label for m in plain] == y[:5].tolist()
    assert np.allclose([m.similarity for m in scaled], [m.similarity for m in plain], atol=1e-5)


def test_single_vector_predicts_one_match():
    x, y, _ = _dataset(people=3)
    clf = OpenSetClassifier.fit(x, y, threshold=THRESHOLD)
    (match,) = clf.predict(x[SAMPLES])
    assert match.label == 11


@pytest.mark.parametrize("people", [1, 2, 4])
def test_bytes_round_trip_gives_identical_predictions_without_pickle(people):
    x, y, _ = _dataset(people=people)
    clf = OpenSetClassifier.fit(x, y, threshold=THRESHOLD)
    blob = clf.to_bytes()

    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)
        assert ("coef" in data.files) == (people > 1)

    loaded = OpenSetClassifier.from_bytes(blob)
    assert loaded.threshold == pytest.approx(THRESHOLD)
    probe = np.concatenate([x, _stranger()])
    before, after = clf.predict(probe), loaded.predict(probe)
    assert [(m.label, m.candidate) for m in after] == [(m.label, m.candidate) for m in before]
    assert np.allclose(
        [m.similarity for m in after], [m.similarity for m in before], rtol=0, atol=1e-6
    )


def test_from_bytes_threshold_overrides_stored_one():
    x, y, _ = _dataset(people=3)
    blob = OpenSetClassifier.fit(x, y, threshold=THRESHOLD).to_bytes()
    loaded = OpenSetClassifier.from_bytes(blob, threshold=1.01)
    assert loaded.threshold == 1.01
    assert not any(m.known for m in loaded.predict(x))
    assert OpenSetClassifier.from_bytes(blob).threshold == pytest.approx(THRESHOLD)


def test_fit_on_zero_embeddings_raises_value_error():
    with pytest.raises(ValueError, match="no embeddings"):
        OpenSetClassifier.fit(np.empty((0, DIM), dtype=np.float32), np.empty(0), THRESHOLD)


def _face(seed: int = 0) -> np.ndarray:
    """A 160x160 uint8 RGB crop with structure (so flips and rotations change it)."""
    rng = np.random.default_rng(seed)
    face = rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)
    face[:, :40] = (200, 30, 30)  # a coloured band on the left edge
    return face


def test_augment_face_returns_21_named_crops_original_first():
    face = _face()
    crops = augment_face(face)
    assert len(crops) == 21 == len(VARIATIONS) + 1
    names = [name for name, _ in crops]
    assert names[0] == "original"
    assert len(set(names)) == len(names)
    assert crops[0][1] is face or np.array_equal(crops[0][1], face)
    for name, crop in crops:
        assert crop.shape == face.shape, name
        assert crop.dtype == np.uint8, name
        assert crop.flags["C_CONTIGUOUS"], name
    assert all(not np.array_equal(crop, face) for _, crop in crops[1:])


def test_augment_flip_is_a_horizontal_flip():
    face = _face()
    flipped = dict(augment_face(face))["flip"]
    assert np.array_equal(flipped, face[:, ::-1])
    assert np.array_equal(flipped, cv2.flip(face, 1))
    assert np.all(flipped[:, -40:] == (200, 30, 30))


def test_augment_does_not_modify_the_input():
    face = _face()
    copy = face.copy()
    augment_face(face)
    assert np.array_equal(face, copy)


def _photo_groups(labels: np.ndarray, per_photo: int = 4) -> np.ndarray:
    """Group ids as if every `per_photo` consecutive embeddings came from one photo."""
    return np.arange(len(labels)) // per_photo


def test_calibration_raises_the_bar_for_a_person_whose_photos_agree():
    rng = np.random.default_rng(3)
    centres = _unit(rng.normal(size=(2, DIM)))
    tight = _cluster(centres[0], 20, rng, spread=0.02)  # cosine to centre ~0.97
    loose = _cluster(centres[1], 20, rng, spread=0.12)  # ~0.6
    x = np.concatenate([tight, loose])
    y = np.repeat([10, 11], 20)
    clf = OpenSetClassifier.fit(x, y, threshold=0.3, groups=_photo_groups(y))
    tight_limit, loose_limit = clf.thresholds
    assert loose_limit >= 0.3 and tight_limit > loose_limit
    assert tight_limit <= 0.60  # THRESHOLD_CAP
    # A face at cosine ~0.45 to the tight person was accepted at the floor, not any more.
    between = _unit(centres[0] + 2.0 * _unit(rng.normal(size=DIM)))[None, :]
    match = clf.predict(between)[0]
    assert match.candidate == 10 and 0.3 < match.similarity < tight_limit
    assert not match.known
    uncalibrated = OpenSetClassifier.fit(x, y, threshold=0.3)
    assert list(uncalibrated.thresholds) == [0.3, 0.3]
    restored = OpenSetClassifier.from_bytes(clf.to_bytes())
    np.testing.assert_allclose(restored.thresholds, clf.thresholds)


def test_a_person_enrolled_from_two_photos_keeps_the_floor():
    x, y, _ = _dataset(people=2)
    groups = np.where(np.arange(len(y)) % SAMPLES < SAMPLES // 2, 0, 1) + 2 * (y - 10)
    clf = OpenSetClassifier.fit(x, y, threshold=THRESHOLD, groups=groups)
    assert list(clf.thresholds) == [THRESHOLD, THRESHOLD]


def test_a_face_halfway_between_two_people_fails_the_margin_gate():
    x, y, centres = _dataset(people=3)
    clf = OpenSetClassifier.fit(x, y, threshold=0.0)
    halfway = _unit(centres[0] + centres[1])[None, :]
    match = clf.predict(halfway)[0]
    assert match.similarity > 0.5 and match.margin < 0.3 and not match.known
    assert all(m.known and m.margin >= 0.3 for m in clf.predict(x))
