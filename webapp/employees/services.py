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


def _enroll_one(employee: Employee, upload: Upload) -> EnrollmentPhoto:
    """Add one photo's templates to the session; raise ImageError/FaceError/AppError."""
    digest = hashlib.sha256(upload.data).hexdigest()
    duplicate = db.session.scalar(
        select(EnrollmentPhoto).where(
            EnrollmentPhoto.employee_id == employee.id, EnrollmentPhoto.sha256 == digest
        )
    )
    if duplicate:
        raise AppError("This photo is already enrolled for this employee.", "duplicate_photo", 409)
    rgb = decode_image(upload.data, current_app.config["MAX_IMAGE_PIXELS"])
    analyzer = current_models().get("faces")
    face, templates = analyzer.enrollment_templates(rgb)
    # Stored re-encoded: EXIF (location, device) is dropped and orientation is already applied.
    path = media.save(f"employees/{employee.id}", encode_jpeg(rgb, quality=92), ".jpg")
    photo = EnrollmentPhoto(
        employee=employee,
        path=path,
        original_name=upload.filename[:255],
        sha256=digest,
        face_box=list(face.box),
    )
    db.session.add(photo)
    for variation, embedding in templates:
        db.session.add(
            FaceTemplate(
                employee=employee,
                photo=photo,
                variation=variation,
                model_version=analyzer.version,
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
    saved_paths: list[str] = []
    try:
        for upload in uploads:
            try:
                photo = _enroll_one(employee, upload)
            except (ImageError, FaceError, AppError) as exc:
                code = getattr(exc, "code", "invalid_photo")
                report.rejected.append(RejectedPhoto(upload.filename, code, _message(exc)))
                continue
            saved_paths.append(photo.path)
            report.enrolled.append(photo)
        if report.enrolled:
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
        for path in saved_paths:
            media.remove(path)
        raise
    if report.enrolled and retrain:
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
