"""Teach mode: samples from labelled photos, a trained gesture model, kiosks switched to it."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from tests.support import ROOT, make_kiosk

GESTURES = ROOT / "tests" / "data" / "gestures"


def labelled_photos() -> dict[str, list]:
    """The rendered stills and enrollment photos, by their labelled gesture."""
    by_label: dict[str, list] = {}
    with open(GESTURES / "labels.csv") as fh:
        for row in csv.DictReader(fh):
            by_label.setdefault(row["gesture"], []).append(GESTURES / row["file"])
    return by_label


@pytest.fixture
def teacher(app, admin_client, loaded_models):
    if not GESTURES.is_dir():
        pytest.fail(f"{GESTURES} is missing (tests/data/gestures is part of the repository)")
    return admin_client


def upload(client, label, paths):
    files = [(io.BytesIO(p.read_bytes()), p.name) for p in paths]
    return client.post(
        "/admin/gestures/samples",
        data={"label": label, "photos": files},
        follow_redirects=True,
    )


def test_samples_train_a_model_and_a_kiosk_switches_to_it(app, teacher):
    from webapp.attendance.kiosk_models import GestureModelVersion, GestureSample
    from webapp.attendance.models import Kiosk
    from webapp.extensions import db

    for label, paths in labelled_photos().items():
        page = upload(teacher, label, paths).get_data(as_text=True)
        assert f"{len(paths)} sample(s) added." in page, label
    with app.app_context():
        assert db.session.query(GestureSample).count() == 32

    page = teacher.post("/admin/gestures/train", follow_redirects=True).get_data(as_text=True)
    assert "Gesture model 1 trained: cross-validated accuracy" in page
    with app.app_context():
        version = db.session.scalars(select(GestureModelVersion)).one()
        assert version.sample_count == 32 and version.accuracy >= 0.9

    make_kiosk(app, "lobby")
    with app.app_context():
        kiosk_id = db.session.scalars(select(Kiosk.id)).one()
    teacher.post(f"/admin/kiosks/{kiosk_id}/gesture-model", data={"model": "1"})
    with app.app_context():
        assert db.session.get(Kiosk, kiosk_id).gesture_model_id == 1
    page = teacher.get("/admin/gestures").get_data(as_text=True)
    assert "Model 1 (" in page

    # Back to the built-in rules.
    teacher.post(f"/admin/kiosks/{kiosk_id}/gesture-model", data={"model": "rules"})
    with app.app_context():
        assert db.session.get(Kiosk, kiosk_id).gesture_model_id is None


def test_the_taught_model_reads_the_kiosk_gestures(app, teacher):
    """A kiosk on the taught model reads each labelled still as its gesture."""
    from ml.images import decode_image
    from webapp.attendance.kiosk import read_gesture
    from webapp.attendance.models import Kiosk
    from webapp.extensions import db
    from webapp.registry import current_models

    photos = labelled_photos()
    for label, paths in photos.items():
        upload(teacher, label, paths)
    teacher.post("/admin/gestures/train")
    make_kiosk(app, "lobby")
    with app.app_context():
        kiosk = db.session.scalars(select(Kiosk)).one()
        kiosk.gesture_model_id = 1
        db.session.commit()
        pose = current_models().get("pose")
        wrong = []
        for label, paths in photos.items():
            for path in paths:
                read = read_gesture(kiosk, pose.estimate(decode_image(path.read_bytes())))
                if read != label:
                    wrong.append((path.name, label, read))
    assert len(wrong) <= 2, wrong


def test_training_needs_enough_samples_of_every_gesture(app, teacher):
    photos = labelled_photos()
    upload(teacher, "O", photos["O"])
    page = teacher.post("/admin/gestures/train", follow_redirects=True).get_data(as_text=True)
    assert "Each gesture needs at least 5 samples" in page
    assert "X" in page and "capture" in page


def test_a_photo_without_a_body_is_refused_by_name(app, teacher, dataset):
    blank = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (320, 240), (30, 30, 30)).save(blank, format="JPEG")
    page = teacher.post(
        "/admin/gestures/samples",
        data={"label": "O", "photos": [(io.BytesIO(blank.getvalue()), "dark.jpg")]},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "dark.jpg was not used: No body pose was found in the picture." in page


def test_a_bad_label_is_refused(app, teacher):
    photo = labelled_photos()["O"][0]
    page = upload(teacher, "wave", [photo]).get_data(as_text=True)
    assert "label must be one of" in page


def test_camera_samples_come_back_as_json(app, teacher):
    photo = labelled_photos()["capture"][0]
    response = teacher.post(
        "/admin/gestures/samples/frame",
        data={"label": "capture", "frame": (io.BytesIO(photo.read_bytes()), "frame.jpg")},
    )
    assert response.status_code == 200
    assert response.json["label"] == "capture" and response.json["counts"]["capture"] == 1


def test_only_admins_teach(app, client):
    from tests.support import create_user, login

    create_user(app, "boss@example.com", "manager-pass", role="manager")
    login(client, "boss@example.com", "manager-pass")
    assert client.get("/admin/gestures").status_code == 403
    assert client.post("/admin/gestures/train").status_code == 403
