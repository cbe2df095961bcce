"""Generated strangers against the recognizer: 200 faces of no real person, none accepted.

The 5-celebrity train photos are enrolled as the app enrolls (MTCNN, FaceNet, augmentations,
the open-set classifier at the recognition threshold); 200 generated faces (seeds 10000-10199,
psi 0.7) are then recognized as a photo would be. A generated face is nobody.

Measured (see bench/RESULTS.md): no stranger reaches the kiosk's accept threshold (0.60, counted
at once), but a few reach the recognition threshold (0.45, "known": the kiosk holds such a
check-in for an admin's review): seed 10035 at 0.49 to jerry_seinfeld. That is the recognizer's
false-accept rate on realistic strangers, which the issue asks to bring to 0; until it is, the
second test is an expected failure that turns into an error (strict) once it passes.
"""

from __future__ import annotations

import numpy as np
import pytest

from ml.classifier import OpenSetClassifier
from ml.generator import load_generator
from ml.images import decode_image
from ml.recognition import FaceAnalyzer
from tests.support import DATASET, MODEL_DIR

THRESHOLD = 0.45  # RECOGNITION_THRESHOLD's default: at or above, a face is "known"
ACCEPT = 0.60  # REVIEW_ACCEPT_THRESHOLD's default: at or above, a check-in counts at once
STRANGER_SEEDS = range(10_000, 10_200)


@pytest.fixture(scope="module")
def strangers(tmp_path_factory) -> list[tuple[int, float]]:
    """(seed, similarity to the picked enrolled person) for each stranger the detector finds."""
    analyzer = FaceAnalyzer.from_model_dir(MODEL_DIR)
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
    classifier = OpenSetClassifier.fit(np.stack(embeddings), np.array(labels), THRESHOLD)
    generator = load_generator(MODEL_DIR, "cpu", cache_dir=tmp_path_factory.mktemp("gen"))
    seeds, found = list(STRANGER_SEEDS), []
    for start in range(0, len(seeds), 8):
        for face in generator.sample(seeds[start : start + 8], psi=0.7, size=512):
            faces = analyzer.analyze(face.image)
            if faces:
                match = classifier.predict(faces[0].embedding[None])[0]
                found.append((face.seed, match.similarity))
    return found


def test_no_generated_stranger_is_accepted_at_once(strangers):
    assert len(strangers) >= 190, len(strangers)  # the strangers are faces the detector finds
    accepted = [(seed, round(s, 3)) for seed, s in strangers if s >= ACCEPT]
    assert not accepted


@pytest.mark.xfail(
    strict=True, reason="the recognizer knows a few generated strangers at 0.45 (issue 9 target)"
)
def test_no_generated_stranger_is_known_at_the_recognition_threshold(strangers):
    known = [(seed, round(s, 3)) for seed, s in strangers if s >= THRESHOLD]
    assert not known, known
