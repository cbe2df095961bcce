"""Biometric privacy: consent before enrollment, withdrawal that forgets the face, retention."""

from __future__ import annotations

import html
import io
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.admin_helpers import add_employee, admin_client_for, make_app, punch


def _counts(app, employee_id: int) -> tuple[int, int]:
    from webapp.employees.models import EnrollmentPhoto, FaceTemplate
    from webapp.extensions import db

    with app.app_context():
        return (
            db.session.scalar(
                select(func.count(EnrollmentPhoto.id)).where(
                    EnrollmentPhoto.employee_id == employee_id
                )
            ),
            db.session.scalar(
                select(func.count(FaceTemplate.id)).where(FaceTemplate.employee_id == employee_id)
            ),
        )


def _fake_biometrics(app, employee_id: int, photos: int = 2, per_photo: int = 3) -> list:
    """Enrollment rows and files without the models (random unit embeddings)."""
    from webapp import media
    from webapp.employees.models import EnrollmentPhoto, FaceTemplate
    from webapp.extensions import db

    rng = np.random.default_rng(employee_id)
    paths = []
    with app.app_context():
        for index in range(photos):
            path = media.save(f"employees/{employee_id}", f"photo {index}".encode(), ".jpg")
            photo = EnrollmentPhoto(
                employee_id=employee_id,
                path=path,
                original_name=f"p{index}.jpg",
                sha256=f"{employee_id:032d}{index:032d}",
                face_box=[0, 0, 10, 10],
            )
            db.session.add(photo)
            for variation in range(per_photo):
                vector = rng.normal(size=128).astype("<f4")
                db.session.add(
                    FaceTemplate(
                        employee_id=employee_id,
                        photo=photo,
                        variation=f"v{variation}",
                        model_version="fake-embedder",
                        embedding=(vector / np.linalg.norm(vector)).astype("<f4").tobytes(),
                    )
                )
            paths.append(media.absolute(path))
        db.session.commit()
    return paths


def _old_classifier(app) -> int:
    from webapp.extensions import db
    from webapp.recognition.models import ClassifierVersion

    with app.app_context():
        version = ClassifierVersion(
            model_version="fake-embedder",
            employee_count=3,
            template_count=9,
            threshold=0.45,
            stats={},
            payload=b"centroids of everyone",
        )
        db.session.add(version)
        db.session.commit()
        return version.id


def _audit_actions(app, action_prefix: str) -> list:
    from webapp.audit import AuditEntry
    from webapp.extensions import db

    with app.app_context():
        return [
            (e.action, e.actor_label, e.target_id, e.before, e.after)
            for e in db.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.startswith(action_prefix))
                .order_by(AuditEntry.id)
            )
        ]


# --- consent at enrollment ----------------------------------------------------------------------


def test_photos_are_refused_until_consent_is_given(app, admin_client):
    employee = add_employee(app, "No Consent Yet")
    page = admin_client.get(f"/admin/employees/{employee}").get_data(as_text=True)
    assert "No consent is on file" in page and "kiosk by face" in page
    assert 'name="consent"' in page
    response = admin_client.post(
        f"/admin/employees/{employee}/photos",
        data={"photos": [(io.BytesIO(b"not even looked at"), "face.jpg")]},
        follow_redirects=True,
    )
    text = html.unescape(response.get_data(as_text=True))
    assert "Record the employee's consent before enrolling their face." in text
    assert _counts(app, employee) == (0, 0)
    assert _audit_actions(app, "employee.consent") == []


def test_consent_is_recorded_at_enrollment_with_who_when_and_version(
    app, admin_client, dataset, loaded_models
):
    from webapp.employees.consent import CURRENT_CONSENT_VERSION
    from webapp.employees.models import BiometricConsent
    from webapp.extensions import db

    employee = add_employee(app, "Elton John")
    photo = sorted((dataset / "train" / "elton_john").iterdir())[0]
    response = admin_client.post(
        f"/admin/employees/{employee}/photos",
        data={"photos": [(io.BytesIO(photo.read_bytes()), photo.name)], "consent": "y"},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "1 photo(s) enrolled." in page
    assert f"recorded by admin@example.com (text version {CURRENT_CONSENT_VERSION})" in page
    with app.app_context():
        consent = db.session.scalar(select(BiometricConsent))
        assert (consent.employee_id, consent.text_version) == (employee, CURRENT_CONSENT_VERSION)
        assert consent.recorded_by_label == "admin@example.com" and consent.given_at.tzinfo
    [(action, actor, target, _before, after)] = _audit_actions(app, "employee.consent")
    assert (action, actor, target) == ("employee.consent_give", "admin@example.com", employee)
    assert after["text_version"] == CURRENT_CONSENT_VERSION


def test_consent_can_be_recorded_for_people_enrolled_before(app, admin_client):
    employee = add_employee(app, "Legacy")
    _fake_biometrics(app, employee, photos=1)
    privacy = admin_client.get("/admin/privacy").get_data(as_text=True)
    assert "Enrolled without recorded consent:" in privacy and "Legacy" in privacy
    refused = admin_client.post(f"/admin/employees/{employee}/consent", follow_redirects=True)
    assert "Tick the box" in refused.get_data(as_text=True)
    admin_client.post(f"/admin/employees/{employee}/consent", data={"agreed": "y"})
    privacy = admin_client.get("/admin/privacy").get_data(as_text=True)
    assert "Everyone with face data has consent on file." in privacy


# --- withdrawal --------------------------------------------------------------------------------


def test_withdrawal_deletes_everything_at_once_or_nothing(app, admin_client, monkeypatch):
    """If retraining fails, the deletion is rolled back: templates, photos and files stay."""
    from webapp.recognition import services as recognition_services

    employee = add_employee(app, "Careful")
    files = _fake_biometrics(app, employee)
    admin_client.post(f"/admin/employees/{employee}/consent", data={"agreed": "y"})

    def broken(actor=None):
        raise RuntimeError("disk full")

    monkeypatch.setattr(recognition_services, "retrain_in_session", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = admin_client.post(f"/admin/employees/{employee}/consent/withdraw")
    assert response.status_code == 500
    assert _counts(app, employee) == (2, 6)
    assert all(path.exists() for path in files)
    page = admin_client.get(f"/admin/employees/{employee}").get_data(as_text=True)
    assert "Withdraw consent and delete face data" in page  # consent still in force


def test_withdrawing_consent_makes_the_person_unknown_to_the_real_recognizer(
    enrolled_app, dataset, loaded_models
):
    """Real models: Madonna is recognized, consent is withdrawn, then she is a stranger, at once,
    in the same worker, while everyone else is still recognized."""
    from ml.images import decode_image
    from webapp import media
    from webapp.employees.models import BiometricConsent, Employee, EnrollmentPhoto
    from webapp.extensions import db
    from webapp.recognition.models import ClassifierVersion
    from webapp.recognition.services import recognize

    app = enrolled_app
    probe = decode_image(next(iter(sorted((dataset / "val" / "madonna").iterdir()))).read_bytes())
    other = decode_image(
        next(iter(sorted((dataset / "val" / "elton_john").iterdir()))).read_bytes()
    )
    with app.app_context():
        madonna = db.session.scalar(select(Employee).where(Employee.name == "madonna"))
        madonna_id = madonna.id
        files = [media.absolute(p.path) for p in madonna.photos]
        faces, _version = recognize(probe)
        assert faces[0].employee_id == madonna_id
        versions_before = db.session.scalar(select(func.count(ClassifierVersion.id)))
        db.session.remove()
    assert files and all(f.exists() for f in files)
    photos, templates = _counts(app, madonna_id)
    assert photos > 0 and templates > 0

    client = admin_client_for(app)
    client.post(f"/admin/employees/{madonna_id}/consent", data={"agreed": "y"})
    response = client.post(f"/admin/employees/{madonna_id}/consent/withdraw", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert f"Consent withdrawn: {photos} photo(s) and {templates} face template(s) deleted" in page
    assert _counts(app, madonna_id) == (0, 0)
    assert not any(f.exists() for f in files)

    with app.app_context():
        faces, version = recognize(probe)
        assert faces[0].employee_id is None and faces[0].name is None
        assert recognize(other)[0][0].name == "elton_john"
        newest = db.session.scalar(select(ClassifierVersion).order_by(ClassifierVersion.id.desc()))
        assert newest.employee_count == 4 and version.endswith(f"classifier-v{newest.id}")
        assert db.session.scalar(select(func.count(ClassifierVersion.id))) == versions_before + 1
        # Older versions held her centroid: their payloads are gone, their facts stay.
        older = db.session.scalars(
            select(ClassifierVersion).where(ClassifierVersion.id < newest.id)
        ).all()
        assert older and all(v.payload is None for v in older)
        consent = db.session.scalar(select(BiometricConsent))
        assert consent.withdrawn_at is not None
        assert consent.withdrawn_by_label == "admin@example.com"
        assert db.session.scalar(select(func.count(EnrollmentPhoto.id))) > 0  # others keep theirs
    [(action, actor, target, before, after)] = _audit_actions(app, "employee.consent_withdraw")
    assert (action, actor, target) == ("employee.consent_withdraw", "admin@example.com", madonna_id)
    assert before["photos"] == photos and before["templates"] == templates
    assert after == {"text_version": None, "photos": 0, "templates": 0}
    # Enrolling her again needs new consent.
    again = client.post(
        f"/admin/employees/{madonna_id}/photos",
        data={"photos": [(io.BytesIO(b"x"), "again.jpg")]},
        follow_redirects=True,
    )
    assert "Record the employee's consent" in html.unescape(again.get_data(as_text=True))


# --- deactivation and retention ------------------------------------------------------------------


def test_deactivation_is_audited_retrains_and_can_be_undone(app, admin_client):
    from webapp.employees.models import Employee
    from webapp.extensions import db

    employee = add_employee(app, "Leaving Soon")
    _old_classifier(app)
    page = admin_client.post(
        f"/admin/employees/{employee}/deactivate", follow_redirects=True
    ).get_data(as_text=True)
    assert "no longer recognized" in page and "Reactivate" in page
    with app.app_context():
        row = db.session.get(Employee, employee)
        assert not row.active and row.deactivated_at is not None
    admin_client.post(f"/admin/employees/{employee}/reactivate")
    with app.app_context():
        row = db.session.get(Employee, employee)
        assert row.active and row.deactivated_at is None
    actions = [a[0] for a in _audit_actions(app, "employee.")]
    assert actions[-2:] == ["employee.deactivate", "employee.reactivate"]
    assert len(_audit_actions(app, "classifier.train")) == 2


@pytest.fixture
def retention_app(tmp_path, migrated_db):
    """Gone (deactivated 40 days ago), Recent (5 days ago), Active; proof photos 100 and 10 days
    old; an old classifier version with a payload."""
    from webapp.db import utcnow

    app = make_app(tmp_path, migrated_db)
    now = utcnow()
    people = {
        "gone": add_employee(app, "Gone", active=False, deactivated_at=now - timedelta(days=40)),
        "recent": add_employee(app, "Recent", active=False, deactivated_at=now - timedelta(days=5)),
        "active": add_employee(app, "Active"),
    }
    files = {name: _fake_biometrics(app, employee_id) for name, employee_id in people.items()}
    with app.app_context():
        from webapp import media

        old_proof = media.save("proofs", b"old", ".jpg")
        new_proof = media.save("proofs", b"new", ".jpg")
        proof_files = {"old": media.absolute(old_proof), "new": media.absolute(new_proof)}
    events = {
        "old": punch(app, people["active"], "check_in", now - timedelta(days=100),
                     proof_photo=old_proof),
        "new": punch(app, people["active"], "check_in", now - timedelta(days=10),
                     proof_photo=new_proof),
    }  # fmt: skip
    version = _old_classifier(app)
    return app, people, files, proof_files, events, version


def test_retention_dry_run_lists_and_deletes_nothing(retention_app):
    app, people, files, proof_files, _events, _version = retention_app
    result = app.test_cli_runner().invoke(args=["retention", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would delete: Gone" in result.output and "2 photo(s), 6 template(s)" in result.output
    assert "would delete: 1 proof photo(s) older than" in result.output
    assert "Recent" not in result.output and "Active" not in result.output
    assert _counts(app, people["gone"]) == (2, 6)
    assert all(path.exists() for group in files.values() for path in group)
    assert all(path.exists() for path in proof_files.values())
    assert _audit_actions(app, "retention.") == []
    page = admin_client_for(app).get("/admin/privacy").get_data(as_text=True)
    assert "Gone</a>: 2 photo(s), 6 template(s)" in page and "1 proof photo(s)" in page


def test_retention_run_deletes_what_is_due_once_and_logs_it(retention_app):
    from webapp.attendance.models import AttendanceEvent
    from webapp.employees.models import Employee
    from webapp.extensions import db
    from webapp.recognition.models import ClassifierVersion

    app, people, files, proof_files, events, version = retention_app
    runner = app.test_cli_runner()
    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "deleted: Gone" in result.output
    assert "retention done: 1 employee(s), 2 photo(s), 6 template(s), 1 proof photo(s)" in (
        result.output
    )
    assert _counts(app, people["gone"]) == (0, 0)
    assert _counts(app, people["recent"]) == (2, 6) and _counts(app, people["active"]) == (2, 6)
    assert not any(path.exists() for path in files["gone"])
    assert all(path.exists() for path in files["recent"] + files["active"])
    assert not proof_files["old"].exists() and proof_files["new"].exists()
    with app.app_context():
        old = db.session.get(AttendanceEvent, events["old"])
        assert old.proof_photo is None and old.proof_deleted_at is not None  # the event stays
        assert db.session.get(AttendanceEvent, events["new"]).proof_photo is not None
        assert db.session.get(Employee, people["gone"]).name == "Gone"  # the employee stays
        assert db.session.get(ClassifierVersion, version).payload is None
    logged = _audit_actions(app, "retention.")
    assert [(a, actor, target) for a, actor, target, _b, _a in logged] == [
        ("retention.biometrics_delete", "cli", people["gone"]),
        ("retention.proof_photos_delete", "cli", None),
    ]
    assert logged[0][3] == {"photos": 2, "templates": 6}
    assert logged[1][3]["events"] == 1

    # Idempotent: a second run finds nothing and logs nothing more.
    again = runner.invoke(args=["retention", "run"])
    assert again.exit_code == 0 and "nothing to delete" in again.output
    assert len(_audit_actions(app, "retention.")) == 2
    page = admin_client_for(app).get(f"/admin/records/{events['old']}").get_data(as_text=True)
    assert "after the retention period" in page
