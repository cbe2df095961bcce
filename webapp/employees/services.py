"""Employee and enrollment operations; they own the commits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from ml.errors import FaceError
from ml.images import ImageError, decode_image, encode_jpeg
from webapp import audit, media
from webapp.employees.models import Employee, EnrollmentPhoto, FaceTemplate
from webapp.errors import AppError
from webapp.extensions import db
from webapp.recognition.models import ClassifierVersion
from webapp.recognition.services import train_classifier
from webapp.registry import current_models

MAX_PHOTOS_PER_UPLOAD = 10


@dataclass(frozen=True)
class Upload:
    """A file as received: its name and bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class RejectedPhoto:
    """A photo that was not enrolled, and why."""

    filename: str
    code: str
    message: str


@dataclass
class EnrollmentReport:
    """What an upload enrolled and what it refused."""

    enrolled: list[EnrollmentPhoto] = field(default_factory=list)
    rejected: list[RejectedPhoto] = field(default_factory=list)
    classifier: ClassifierVersion | None = None


def create_employee(
    name: str, department: str | None = None, employee_no: str | None = None, actor=None
) -> Employee:
    """Create an employee record."""
    name = (name or "").strip()
    if not name:
        raise AppError("An employee needs a name.", "name_required")
    employee_no = (employee_no or "").strip() or None
    if employee_no and db.session.scalar(
        select(Employee).where(Employee.employee_no == employee_no)
    ):
        raise AppError(f"Employee number {employee_no} is already used.", "employee_no_taken", 409)
    employee = Employee(
        name=name, department=(department or "").strip() or None, employee_no=employee_no
    )
    db.session.add(employee)
    db.session.flush()
    audit.record(
        "employee.create",
        "employee",
        employee.id,
        actor,
        after={"name": employee.name, "department": employee.department},
    )
    db.session.commit()
    return employee


@dataclass(frozen=True)
class _PreparedPhoto:
    """A photo checked and embedded, not yet written anywhere."""

    upload: Upload
    digest: str
    rgb: object
    box: tuple[int, int, int, int]
    templates: list


def _prepare(employee: Employee, upload: Upload, seen: set[str]) -> _PreparedPhoto:
    """Check and embed one photo without writing; raise ImageError/FaceError/AppError."""
    digest = hashlib.sha256(upload.data).hexdigest()
    duplicate = digest in seen or db.session.scalar(
        select(EnrollmentPhoto.id).where(
            EnrollmentPhoto.employee_id == employee.id, EnrollmentPhoto.sha256 == digest
        )
    )
    if duplicate:
        raise AppError("This photo is already enrolled for this employee.", "duplicate_photo", 409)
    rgb = decode_image(upload.data, current_app.config["MAX_IMAGE_PIXELS"])
    face, templates = current_models().get("faces").enrollment_templates(rgb)
    seen.add(digest)
    return _PreparedPhoto(upload, digest, rgb, face.box, templates)


def _store(employee: Employee, prepared: _PreparedPhoto, model_version: str) -> EnrollmentPhoto:
    """Write one prepared photo's file and add its rows to the session."""
    # Stored re-encoded: EXIF (location, device) is dropped and orientation is already applied.
    path = media.save(f"employees/{employee.id}", encode_jpeg(prepared.rgb, quality=92), ".jpg")
    photo = EnrollmentPhoto(
        employee=employee,
        path=path,
        original_name=prepared.upload.filename[:255],
        sha256=prepared.digest,
        face_box=list(prepared.box),
    )
    db.session.add(photo)
    for variation, embedding in prepared.templates:
        db.session.add(
            FaceTemplate(
                employee=employee,
                photo=photo,
                variation=variation,
                model_version=model_version,
                embedding=embedding.astype("<f4").tobytes(),
            )
        )
    return photo


def enroll_photos(
    employee: Employee, uploads: list[Upload], actor=None, retrain: bool = True
) -> EnrollmentReport:
    """Enroll every usable photo, report the others by name and reason, then retrain."""
    if not uploads:
        raise AppError("Choose at least one photo.", "no_photos")
    if len(uploads) > MAX_PHOTOS_PER_UPLOAD:
        raise AppError(
            f"Upload at most {MAX_PHOTOS_PER_UPLOAD} photos at a time.", "too_many_photos"
        )
    report = EnrollmentReport()
    # The slow part (detection and ~21 embeddings per photo) runs before anything is written,
    # so the database is never locked while the models work.
    prepared, seen = [], set()
    for upload in uploads:
        try:
            prepared.append(_prepare(employee, upload, seen))
        except (ImageError, FaceError, AppError) as exc:
            code = getattr(exc, "code", "invalid_photo")
            report.rejected.append(RejectedPhoto(upload.filename, code, _message(exc)))
    db.session.rollback()  # end the read transaction before the short write
    if not prepared:
        return report
    model_version = current_models().get("faces").version
    try:
        report.enrolled = [_store(employee, item, model_version) for item in prepared]
        db.session.flush()
        audit.record(
            "employee.enroll",
            "employee",
            employee.id,
            actor,
            after={"photos": [p.original_name for p in report.enrolled]},
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        for photo in report.enrolled:
            media.remove(photo.path)
        raise
    if retrain:
        report.classifier = train_classifier(actor)
    return report


def _message(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc)


def remove_photo(photo: EnrollmentPhoto, actor=None) -> ClassifierVersion:
    """Delete an enrollment photo with its templates and file, then retrain."""
    employee_id, path, name = photo.employee_id, photo.path, photo.original_name
    db.session.delete(photo)
    audit.record("employee.photo_remove", "employee", employee_id, actor, before={"photo": name})
    db.session.commit()
    media.remove(path)
    return train_classifier(actor)
