"""Recognition with the real models on the 5-celebrity photos, end to end through the API."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from ml.classifier import OpenSetClassifier
from tests.support import create_user, login, make_kiosk


def val_photos(dataset):
    """Yield (person, path) for every validation photo."""
    for person_dir in sorted((dataset / "val").iterdir()):
        for photo in sorted(person_dir.iterdir()):
            yield person_dir.name, photo


def test_import_enrolled_every_person_and_skipped_ambiguous_photos(enrolled_app):
    from webapp.employees.models import Employee, EnrollmentPhoto, FaceTemplate
    from webapp.extensions import db
    from webapp.recognition.models import ClassifierVersion

    with enrolled_app.app_context():
        names = set(db.session.scalars(select(Employee.name)))
        photos = db.session.query(EnrollmentPhoto).count()
        templates = db.session.query(FaceTemplate).count()
        version = db.session.scalars(select(ClassifierVersion)).one()
    assert names == {"ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling"}
    # 93 train photos; the two group shots with a second face of similar size are refused.
    assert 88 <= photos <= 93
    assert templates == photos * 21  # the original plus 20 augmentations each
    assert version.employee_count == 5 and version.template_count == templates


def test_every_validation_photo_is_named_through_the_api(enrolled_app, dataset):
    token = make_kiosk(enrolled_app)
    client = enrolled_app.test_client()
    wrong = []
    for person, photo in val_photos(dataset):
        response = client.post(
            "/api/v1/recognize",
            data={"image": (photo.open("rb"), photo.name), "detector": "photo"},
            headers={"X-Kiosk-Token": token},
        )
        assert response.status_code == 200, response.json
        face = response.json["faces"][0]
        if face["name"] != person or not face["known"]:
            wrong.append((photo.name, person, face))
    assert wrong == []


def test_api_answer_has_the_documented_shape(enrolled_app, dataset):
    create_user(enrolled_app)
    client = login(enrolled_app.test_client())
    photo = next((dataset / "val" / "madonna").iterdir())
    response = client.post("/api/v1/recognize", data={"image": (photo.open("rb"), photo.name)})
    body = response.json
    assert set(body) == {"faces", "model_version"}
    assert body["model_version"].startswith("facenet-keras-inception-resnet-v1@6acdd8fb3a3f")
    assert body["model_version"].endswith("+classifier-v1")
    face = body["faces"][0]
    assert set(face) == {
        "box",
        "employee_id",
        "name",
        "similarity",
        "known",
        "quality",
        "advice",
    }
    assert face["quality"] == "ok" and face["advice"] is None
    timing = response.headers["Server-Timing"]
    stages = dict(part.strip().split(";dur=") for part in timing.split(","))
    assert {"decode", "detect", "embed", "classify", "app"} <= set(stages)
    assert float(stages["app"]) >= float(stages["detect"]) > 0
    x, y, w, h = face["box"]
    assert w > 20 and h > 20 and x >= 0 and y >= 0
    assert face["known"] and face["name"] == "madonna" and isinstance(face["employee_id"], int)


def _templates(app):
    from webapp.employees.models import Employee, FaceTemplate
    from webapp.extensions import db

    with app.app_context():
        rows = db.session.execute(
            select(Employee.name, FaceTemplate.embedding).join(FaceTemplate.employee)
        ).all()
    names = np.array([name for name, _ in rows])
    vectors = np.stack([np.frombuffer(blob, dtype="<f4") for _, blob in rows])
    return names, vectors


@pytest.fixture(scope="module")
def val_embeddings(loaded_models, dataset):
    from ml.images import decode_image

    faces = loaded_models.get("faces")
    people, vectors = [], []
    for person, photo in val_photos(dataset):
        people.append(person)
        vectors.append(faces.analyze(decode_image(photo.read_bytes()))[0].embedding)
    return np.array(people), np.stack(vectors)


@pytest.mark.parametrize(
    "left_out", ["ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling"]
)
def test_a_person_left_out_of_training_comes_back_unknown(enrolled_app, val_embeddings, left_out):
    names, vectors = _templates(enrolled_app)
    labels = np.unique(names, return_inverse=True)[1]
    keep = names != left_out
    threshold = enrolled_app.config["RECOGNITION_THRESHOLD"]
    classifier = OpenSetClassifier.fit(vectors[keep], labels[keep], threshold)
    people, val = val_embeddings
    strangers = classifier.predict(val[people == left_out])
    assert all(not m.known for m in strangers), [m.similarity for m in strangers]
    known = classifier.predict(val[people != left_out])
    assert all(m.known for m in known), [m.similarity for m in known]


def test_one_enrolled_person_is_recognized_and_others_are_not(
    app, loaded_models, dataset, admin_client
):
    from webapp.employees.services import Upload, create_employee, enroll_photos
    from webapp.extensions import db

    with app.app_context():
        employee = create_employee("Mindy Kaling")
        photos = sorted((dataset / "train" / "mindy_kaling").iterdir())[:4]
        report = enroll_photos(employee, [Upload(p.name, p.read_bytes()) for p in photos])
        assert len(report.enrolled) == 4 and report.classifier.employee_count == 1
        db.session.remove()
    for person, expected in [("mindy_kaling", "Mindy Kaling"), ("elton_john", None)]:
        for photo in sorted((dataset / "val" / person).iterdir()):
            face = admin_client.post(
                "/api/v1/recognize", data={"image": (photo.open("rb"), photo.name)}
            ).json["faces"][0]
            assert face["name"] == expected, (photo.name, face)
