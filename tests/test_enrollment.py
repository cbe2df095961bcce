"""Enrolling employees from photos: pages, services and the bulk CLI, with the real models."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from tests.support import create_user, login


def photo_upload(path, name=None):
    return (io.BytesIO(path.read_bytes()), name or path.name)


def blank_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), (90, 140, 90)).save(buffer, format="JPEG")
    return buffer.getvalue()


def side_by_side(left, right) -> bytes:
    """Two photos pasted side by side at the same size: two faces, neither dominant."""
    a = Image.open(left).convert("RGB").resize((300, 360))
    b = Image.open(right).convert("RGB").resize((300, 360))
    canvas = Image.new("RGB", (600, 360))
    canvas.paste(a, (0, 0))
    canvas.paste(b, (300, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def employee_id(app, admin_client):
    """An employee who has agreed to face enrollment (consent is required before photos)."""
    response = admin_client.post(
        "/admin/employees/new", data={"name": "Elton John", "department": "Music"}
    )
    assert response.status_code == 302
    employee_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    consent = admin_client.post(f"/admin/employees/{employee_id}/consent", data={"agreed": "y"})
    assert consent.status_code == 302
    return employee_id


def counts(app):
    from webapp.employees.models import EnrollmentPhoto, FaceTemplate
    from webapp.extensions import db
    from webapp.recognition.models import ClassifierVersion

    with app.app_context():
        return (
            db.session.scalar(select(func.count(EnrollmentPhoto.id))),
            db.session.scalar(select(func.count(FaceTemplate.id))),
            db.session.scalar(select(func.max(ClassifierVersion.id))),
        )


def test_upload_page_enrolls_good_photos_and_names_the_refused_ones(
    app, admin_client, employee_id, dataset, loaded_models
):
    train = sorted((dataset / "train" / "elton_john").iterdir())
    files = [
        photo_upload(train[0]),
        photo_upload(train[1]),
        (io.BytesIO(blank_jpeg()), "empty-wall.jpg"),
        (io.BytesIO(side_by_side(train[2], train[2])), "two-people.jpg"),
        (io.BytesIO(b"%PDF-1.4 not an image"), "scan.jpg"),
    ]
    response = admin_client.post(
        f"/admin/employees/{employee_id}/photos",
        data={"photos": files},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 photo(s) enrolled." in page
    assert "empty-wall.jpg was not enrolled: No face was found in the photo." in page
    assert "two-people.jpg was not enrolled: More than one face of similar size" in page
    assert "scan.jpg was not enrolled: The file is not an image we can read." in page
    photos, templates, version = counts(app)
    assert (photos, templates, version) == (2, 42, 1)
    # The enrolled photos are shown, served only to admins.
    assert page.count('src="/admin/photos/') == 2
    image = admin_client.get("/admin/photos/1")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(image.data)).size[0] > 50


def test_the_same_photo_twice_is_refused_and_nothing_is_lost(
    app, admin_client, employee_id, dataset, loaded_models
):
    photo = sorted((dataset / "train" / "elton_john").iterdir())[0]
    url = f"/admin/employees/{employee_id}/photos"
    admin_client.post(url, data={"photos": [photo_upload(photo)]})
    page = admin_client.post(
        url, data={"photos": [photo_upload(photo)]}, follow_redirects=True
    ).get_data(as_text=True)
    assert "already enrolled for this employee" in page
    assert counts(app)[:2] == (1, 21)


def test_more_than_ten_photos_at_once_is_refused(app, admin_client, employee_id, dataset):
    photo = sorted((dataset / "train" / "elton_john").iterdir())[0]
    files = [photo_upload(photo, f"p{i}.jpg") for i in range(11)]
    page = admin_client.post(
        f"/admin/employees/{employee_id}/photos",
        data={"photos": files},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Upload at most 10 photos at a time." in page
    assert counts(app)[:2] == (0, 0)


def test_removing_a_photo_drops_its_templates_and_file_and_retrains(
    app, admin_client, employee_id, dataset, loaded_models
):
    from webapp import media
    from webapp.employees.models import EnrollmentPhoto
    from webapp.extensions import db

    train = sorted((dataset / "train" / "elton_john").iterdir())[:2]
    admin_client.post(
        f"/admin/employees/{employee_id}/photos", data={"photos": [photo_upload(p) for p in train]}
    )
    with app.app_context():
        photo = db.session.scalars(select(EnrollmentPhoto)).first()
        path = media.absolute(photo.path)
        photo_id = photo.id
    assert path.exists()
    response = admin_client.post(f"/admin/employees/{employee_id}/photos/{photo_id}/delete")
    assert response.status_code == 302
    assert counts(app) == (1, 21, 2)
    assert not path.exists()


def test_enrollment_photos_are_not_served_to_other_roles(app, employee_id):
    create_user(app, "artist@example.com", "studio-password", role="studio")
    client = login(app.test_client(), "artist@example.com", "studio-password")
    assert client.get(f"/admin/employees/{employee_id}").status_code == 403
    assert client.get("/admin/photos/1").status_code == 403


def test_stored_templates_are_unit_length_and_tagged_with_the_model(
    app, admin_client, employee_id, dataset, loaded_models
):
    from webapp.employees.models import FaceTemplate
    from webapp.extensions import db

    photo = sorted((dataset / "train" / "elton_john").iterdir())[3]
    admin_client.post(
        f"/admin/employees/{employee_id}/photos", data={"photos": [photo_upload(photo)]}
    )
    with app.app_context():
        templates = db.session.scalars(select(FaceTemplate)).all()
        variations = {t.variation for t in templates}
        norms = [float(np.linalg.norm(t.vector)) for t in templates]
        versions = {t.model_version for t in templates}
    assert len(templates) == 21 and "original" in variations and "flip" in variations
    assert np.allclose(norms, 1.0, atol=1e-4)
    assert versions == {loaded_models.get("faces").version}


def test_new_classifier_version_is_picked_up_without_a_restart(
    app, tmp_path, migrated_db, dataset, loaded_models
):
    """Two app instances (as two workers) share the database; training in one reaches the other."""
    from ml.images import decode_image
    from tests.support import make_config
    from webapp import create_app
    from webapp.employees.services import Upload, create_employee, enroll_photos
    from webapp.extensions import db
    from webapp.recognition.services import recognize

    other_instance = tmp_path / "worker2"
    other_instance.mkdir()
    worker2 = create_app(
        make_config(other_instance, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"])
    )
    worker2.config["MEDIA_DIR"] = app.config["MEDIA_DIR"]
    probe = decode_image(next((dataset / "val" / "jerry_seinfeld").iterdir()).read_bytes())

    with worker2.app_context():
        faces, version = recognize(probe)
        assert faces[0].employee_id is None and version.endswith("classifier-v0")
        db.session.remove()

    with app.app_context():
        employee = create_employee("Jerry Seinfeld")
        photos = sorted((dataset / "train" / "jerry_seinfeld").iterdir())[:3]
        enroll_photos(employee, [Upload(p.name, p.read_bytes()) for p in photos])
        db.session.remove()

    with worker2.app_context():
        faces, version = recognize(probe)
        assert faces[0].name == "Jerry Seinfeld" and version.endswith("classifier-v1")


def test_bulk_import_reports_and_skips_bad_photos(app, runner, tmp_path, dataset, loaded_models):
    folder = tmp_path / "people"
    (folder / "Madonna").mkdir(parents=True)
    for photo in sorted((dataset / "train" / "madonna").iterdir())[:3]:
        shutil.copy(photo, folder / "Madonna" / photo.name)
    (folder / "Madonna" / "holiday.jpg").write_bytes(blank_jpeg())
    (folder / "Madonna" / "notes.txt").write_text("not a photo")
    (folder / "Nobody").mkdir()
    result = runner.invoke(args=["employees", "import", str(folder)])
    assert result.exit_code == 0, result.output
    assert "Madonna/holiday.jpg: skipped: No face was found in the image." in result.output
    assert "Madonna: 3 photo(s) enrolled" in result.output
    assert "Nobody: no photos, skipped" in result.output
    assert "classifier v1 (1 people, 63 templates)" in result.output
    # Running it again enrolls nothing twice.
    again = runner.invoke(args=["employees", "import", str(folder)])
    assert "Madonna: 0 photo(s) enrolled" in again.output
    assert counts(app)[:2] == (3, 63)


def test_bulk_import_names_people_in_words_unless_asked_not_to(
    app, runner, tmp_path, dataset, loaded_models
):
    """ben_afflek becomes "Ben Afflek"; --names-as-is keeps jerry_seinfeld; no one is doubled."""
    from webapp.employees.models import Employee
    from webapp.employees.names import display_name
    from webapp.extensions import db

    assert display_name("ben_afflek") == "Ben Afflek"
    assert display_name("jean-luc_picard") == "Jean-Luc Picard"
    assert display_name("Leonardo_DiCaprio") == "Leonardo DiCaprio"
    assert display_name("김_민준") == "김 민준"
    assert display_name("  mindy__kaling ") == "Mindy Kaling"

    def folder_of(*people, run=0):
        folder = tmp_path / f"run{run}"
        for person in people:
            (folder / person).mkdir(parents=True)
            for photo in sorted((dataset / "train" / person).iterdir())[:2]:
                shutil.copy(photo, folder / person / photo.name)
        return folder

    result = runner.invoke(args=["employees", "import", str(folder_of("ben_afflek"))])
    assert result.exit_code == 0 and "Ben Afflek: 2 photo(s) enrolled" in result.output
    result = runner.invoke(
        args=["employees", "import", str(folder_of("jerry_seinfeld", run=1)), "--names-as-is"]
    )
    assert result.exit_code == 0 and "jerry_seinfeld: 2 photo(s) enrolled" in result.output
    # Importing jerry_seinfeld again without the flag finds the verbatim name: nobody is doubled.
    result = runner.invoke(args=["employees", "import", str(folder_of("jerry_seinfeld", run=2))])
    assert "jerry_seinfeld: 0 photo(s) enrolled" in result.output
    with app.app_context():
        names = db.session.scalars(select(Employee.name).order_by(Employee.name)).all()
    assert names == ["Ben Afflek", "jerry_seinfeld"]


def test_every_change_is_audited(app, admin_client, employee_id, dataset, loaded_models):
    from webapp.audit import AuditEntry
    from webapp.extensions import db

    photo = sorted((dataset / "train" / "elton_john").iterdir())[0]
    admin_client.post(
        f"/admin/employees/{employee_id}/photos", data={"photos": [photo_upload(photo)]}
    )
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        actions = [(e.action, e.actor_label) for e in entries]
    assert ("employee.create", "admin@example.com") in actions
    assert ("employee.enroll", "admin@example.com") in actions
    assert ("classifier.train", "admin@example.com") in actions
