"""The open-set operating point on real data: enrolled 5-celebrity people, >= 200 generated
strangers (faces of no real person from ml.generator), per-person calibrated thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from ml.classifier import OpenSetClassifier
from ml.images import decode_image
from ml.strangers import STRANGER_SEEDS, generated_stranger_embeddings, stranger_cache

TARGET_MARGIN = 0.08  # issue 15: the best stranger this far below its threshold


def _templates(app):
    """(names, photo ids, embeddings) of every enrolled template."""
    from webapp.employees.models import Employee, FaceTemplate
    from webapp.extensions import db

    with app.app_context():
        rows = db.session.execute(
            select(Employee.name, FaceTemplate.photo_id, FaceTemplate.embedding).join(
                FaceTemplate.employee
            )
        ).all()
    names = np.array([row[0] for row in rows])
    photos = np.array([row[1] for row in rows])
    vectors = np.stack([np.frombuffer(row[2], dtype="<f4") for row in rows])
    return names, photos, vectors


@pytest.fixture
def calibrated(enrolled_app):
    """The classifier the app trains: every person's threshold calibrated from their photos."""
    names, photos, vectors = _templates(enrolled_app)
    people, labels = np.unique(names, return_inverse=True)
    floor = enrolled_app.config["RECOGNITION_THRESHOLD"]
    return people, OpenSetClassifier.fit(vectors, labels, floor, groups=photos)


@pytest.fixture(scope="module")
def strangers(loaded_models):
    """Embeddings of 240 generated faces (made once per machine, then read from the cache)."""
    from ml.generator import load_generator
    from tests.support import MODEL_DIR

    analyzer = loaded_models.get("faces")
    generator = load_generator(MODEL_DIR, "cpu")
    cache = stranger_cache(analyzer, generator, STRANGER_SEEDS)
    return generated_stranger_embeddings(analyzer, generator, STRANGER_SEEDS, cache=cache)


def test_calibration_raises_thresholds_where_photos_agree(calibrated, enrolled_app):
    _, classifier = calibrated
    floor = enrolled_app.config["RECOGNITION_THRESHOLD"]
    assert (classifier.thresholds >= floor).all() and (classifier.thresholds <= 0.60).all()
    assert (classifier.thresholds > floor + 0.05).sum() >= 2


def test_every_val_photo_is_still_named(calibrated, loaded_models, dataset):
    people, classifier = calibrated
    faces = loaded_models.get("faces")
    wrong = []
    for person_dir in sorted((dataset / "val").iterdir()):
        for photo in sorted(person_dir.iterdir()):
            embedding = faces.analyze(decode_image(photo.read_bytes()))[0].embedding
            match = classifier.predict(embedding)[0]
            if not match.known or people[match.label] != person_dir.name:
                wrong.append((photo.name, match))
    assert wrong == []


def test_no_generated_stranger_is_accepted(calibrated, strangers):
    _, classifier = calibrated
    assert len(strangers) >= 200
    matches = classifier.predict(strangers)
    accepted = [m for m in matches if m.known]
    assert accepted == []
    # The old flat rule (centroid cosine >= 0.45, no margin gate) let some in.
    flat = OpenSetClassifier(
        classifier.classes, classifier.centroids, classifier.coef, classifier.intercept, 0.45
    )
    assert sum(m.known for m in flat.predict(strangers)) >= 1


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="measured 0.038, not 0.08 (default box pipeline): FaceNet puts generated face 70142 "
    "at 0.547 to ben_afflek's centroid while his own val photos go down to 0.598. The two-view "
    "pipeline with population centring (RECOGNITION_VIEWS=box+landmarks) reaches 0.051 here, "
    "but on the held-out seeds 80000-80239 both pipelines accept one stranger "
    "(bench/RESULTS.md, issue 15). dlib's ResNet as a second opinion does not close it: it "
    "accepts the same held-out stranger, and no fusion rule reaches 0.08 on all three sets "
    "without losing known people (bench/second_opinion.py). Crop margins, flip TTA, cohort "
    "score shifts and quality limits (bench/margin.py) widen it on generated faces only at the "
    "cost of real impostors or of known people",
)
def test_the_best_generated_stranger_is_well_below_its_threshold(calibrated, strangers):
    _, classifier = calibrated
    gaps = [m.threshold - m.similarity for m in classifier.predict(strangers)]
    assert min(gaps) >= TARGET_MARGIN
