"""The MobileStyleGAN generator (OpenVINO IR from random-face 2021.7.21.1): real faces, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from ml.age_gender import AgeGenderEstimator
from ml.detection import KEYPOINT_NAMES, FaceDetector, dominant_face
from ml.generator import (
    FFHQ_FIVE,
    FaceGenerator,
    GeneratorError,
    load_generator,
    seed_latent,
)
from ml.generator.base import truncate
from tests.support import MODEL_DIR

SEEDS = list(range(100, 116))  # 16 faces: enough to see both genders and several ages


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return load_generator(MODEL_DIR, "cpu", cache_dir=tmp_path_factory.mktemp("generator"))


@pytest.fixture(scope="module")
def faces(generator):
    return generator.sample(SEEDS, psi=0.7, size=256)


def test_backend_implements_the_protocol(generator):
    assert isinstance(generator, FaceGenerator)
    assert (generator.z_dim, generator.w_dim, generator.resolution) == (512, 512, 1024)
    assert generator.device == "cpu"


def test_seed_latent_follows_stylegan_convention():
    z = seed_latent(7)
    assert z.dtype == np.float32 and z.shape == (512,)
    assert np.array_equal(z, np.random.RandomState(7).randn(512).astype(np.float32))
    with pytest.raises(GeneratorError):
        seed_latent(-1)


def test_same_seed_same_face_different_seed_different_face(generator, faces):
    again = generator.sample([SEEDS[3], SEEDS[0]], psi=0.7, size=256)
    assert np.array_equal(again[0].image, faces[3].image)
    assert np.array_equal(again[1].image, faces[0].image)
    assert np.array_equal(again[0].w, faces[3].w)
    difference = np.abs(faces[0].image.astype(int) - faces[1].image.astype(int)).mean()
    assert difference > 20, difference


def test_batched_mapping_matches_one_at_a_time(generator):
    z = generator.latents([1, 2, 3])
    batch = generator.mapping(z)
    single = np.concatenate([generator.mapping(z[i : i + 1]) for i in range(3)])
    assert np.allclose(batch, single, atol=1e-5)


def test_truncation_pulls_to_the_mean(generator, tmp_path):
    mean = generator.mean_w()
    w = generator.mapping(generator.latents([5]))[0]
    assert np.allclose(truncate(w, mean, 0.0), mean)
    assert np.allclose(truncate(w, mean, 1.0), w)
    with pytest.raises(GeneratorError):
        truncate(w, mean, -0.5)
    # psi 0: every seed is the same average face.
    a, b = generator.sample([11, 12], psi=0.0, size=64)
    assert np.abs(a.image.astype(int) - b.image.astype(int)).max() <= 2
    # The mean w is cached on disk and read back identically by a second generator.
    assert list(generator.cache_dir.glob("mean-w-*.npy"))
    second = load_generator(MODEL_DIR, "cpu", cache_dir=generator.cache_dir)
    assert np.array_equal(second.mean_w(), mean)


def test_no_wplus_on_this_backend(generator):
    w = generator.styles([3])
    plus = np.repeat(w[:, None], 4, axis=1)
    same = generator.synthesis(plus, size=32)
    assert same.shape == (1, 32, 32, 3)
    plus[0, 2] += 1.0
    with pytest.raises(GeneratorError):
        generator.synthesis(plus, size=32)
    with pytest.raises(GeneratorError):
        generator.mapping(np.zeros((1, 3), np.float32))


def test_faces_are_found_in_the_ffhq_frame_and_vary(faces):
    detector = FaceDetector()
    estimator = AgeGenderEstimator.from_model_dir(MODEL_DIR)
    genders, ages = [], []
    for face in faces:
        assert face.image.shape == (256, 256, 3) and face.image.dtype == np.uint8
        found = dominant_face(detector.detect(face.image))
        points = np.array([found.keypoints[name] for name in KEYPOINT_NAMES])
        # The eyes sit where the FFHQ frame puts them (within 4% of the side).
        assert np.abs(points[:2] - face.landmarks[:2]).max() < 0.04 * 256, face.seed
        estimate = estimator.estimate(face.image, points)
        genders.append(estimate.gender)
        ages.append(estimate.age)
    assert {"female", "male"} <= set(genders), genders
    assert max(ages) - min(ages) > 15, ages
    assert np.allclose(faces[0].landmarks / 256, FFHQ_FIVE)
