"""Generated strangers against the recognizer: 200 faces of no real person, none accepted.

The 5-celebrity train photos are enrolled as the app enrolls (MTCNN, FaceNet, augmentations,
the open-set classifier at the recognition threshold); 200 generated faces (seeds 10000-10199,
psi 0.7) are then recognized as a kiosk photo would be. A generated face is nobody, so none may
be accepted as an enrolled person.
"""

from __future__ import annotations

import numpy as np
import pytest

from ml.classifier import OpenSetClassifier
from ml.generator import load_generator
from ml.images import decode_image
from ml.recognition import FaceAnalyzer
from tests.support import DATASET, MODEL_DIR

THRESHOLD = 0.45  # RECOGNITION_THRESHOLD's default
STRANGER_SEEDS = range(10_000, 10_200)


@pytest.fixture(scope="module")
def analyzer():
    return FaceAnalyzer.from_model_dir(MODEL_DIR)


@pytest.fixture(scope="module")
def classifier(analyzer):
    embeddings, labels = [], []
    people = sorted(p for p in (DATASET / "train").iterdir() if p.is_dir())
    for label, person in enumerate(people):
        for photo in sorted(person.iterdir()):
            try:
                _, templates = analyzer.enrollment_templates(decode_image(photo.read_bytes()))
            except ValueError:
                continue
            embeddings += [embedding for _, embedding in templates]
            labels += [label] * len(templates)
    return OpenSetClassifier.fit(np.stack(embeddings), np.array(labels), THRESHOLD)


def test_no_generated_stranger_is_accepted(analyzer, classifier, tmp_path):
    generator = load_generator(MODEL_DIR, "cpu", cache_dir=tmp_path)
    similarities, found = [], 0
    seeds = list(STRANGER_SEEDS)
    for start in range(0, len(seeds), 8):
        for face in generator.sample(seeds[start : start + 8], psi=0.7, size=512):
            faces = analyzer.analyze(face.image)
            if not faces:
                continue
            found += 1
            match = classifier.predict(faces[0].embedding[None])[0]
            assert not match.known, (face.seed, match)
            similarities.append(match.similarity)
    assert found >= 190, found  # the strangers are faces the detector finds
    assert max(similarities) < THRESHOLD
