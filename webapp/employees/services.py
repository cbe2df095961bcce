"""Employee and enrollment operations; they own the commits."""

from __future__ import annotations

import contextlib
import hashlib
import unicodedata
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from ml.errors import FaceError
from ml.images import ImageError, decode_image, encode_jpeg
from webapp import audit, media
from webapp.db import utcnow
from webapp.employees.models import Department, Employee, EnrollmentPhoto, FaceTemplate
from webapp.errors import AppError
from webapp.extensions import db
from webapp.registry import current_models
from webapp.signals import templates_changed

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
    classifier: object | None = None  # the new recognition.models.ClassifierVersion


def clean_name(value: str | None, what: str = "An employee") -> str:
    """A trimmed display name; control characters (tabs, NULs, escapes) are refused."""
    name = (value or "").strip()
    if not name:
        raise AppError(f"{what} needs a name.", "name_required")
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} for ch in name):
        raise AppError("A name may not contain control or invisible characters.", "invalid_name")
    if len(name) > 120:
        raise AppError("A name may have at most 120 characters.", "invalid_name")
    return name


def create_employee(
    name: str, department: str | None = None, employee_no: str | None = None, actor=None
) -> Employee:
    """Create an employee record."""
    name = clean_name(name)
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
    stored: list[EnrollmentPhoto] = []
    try:
        for item in prepared:
            stored.append(_store(employee, item, model_version))
        report.enrolled = stored
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
        for photo in stored:  # nothing of a failed upload stays on disk
            with contextlib.suppress(OSError):
                media.remove(photo.path)
        raise
    if retrain:
        report.classifier = templates_changed(actor)
    return report


def _message(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc)


def remove_photo(photo: EnrollmentPhoto, actor=None):
    """Delete an enrollment photo with its templates and file, then retrain."""
    employee_id, path, name = photo.employee_id, photo.path, photo.original_name
    db.session.delete(photo)
    audit.record("employee.photo_remove", "employee", employee_id, actor, before={"photo": name})
    db.session.commit()
    media.remove(path)
    return templates_changed(actor)


WEEKDAYS = "1234567"  # ISO weekday digits, Monday=1


def _clean_workdays(workdays: str | None) -> str | None:
    """Normalize weekday digits ("531" -> "135"); None or "" means "inherit"."""
    if not workdays:
        return None
    digits = "".join(sorted(set(workdays)))
    if any(ch not in WEEKDAYS for ch in digits):
        raise AppError("Working days are weekday numbers 1 (Monday) to 7 (Sunday).", "bad_days")
    return digits


def _check_schedule(start, end) -> None:
    if (start is None) != (end is None):
        raise AppError("Give both the start and the end of the working day, or neither.", "half")
    if start is not None and start == end:
        raise AppError("The working day cannot start and end at the same time.", "empty_day")


def employee_snapshot(employee: Employee) -> dict:
    """The editable facts of an employee, as the audit log stores them."""
    return {
        "name": employee.name,
        "employee_no": employee.employee_no,
        "department": employee.department,
        "schedule_start": employee.schedule_start.strftime("%H:%M")
        if employee.schedule_start
        else None,
        "schedule_end": employee.schedule_end.strftime("%H:%M") if employee.schedule_end else None,
        "workdays": employee.workdays,
        "active": employee.active,
    }


def update_employee(
    employee: Employee,
    *,
    name: str,
    employee_no: str | None = None,
    department: str | None = None,
    schedule_start=None,
    schedule_end=None,
    workdays: str | None = None,
    actor=None,
) -> Employee:
    """Change an employee's name, number, department and own schedule (None: inherited)."""
    name = clean_name(name)
    employee_no = (employee_no or "").strip() or None
    if employee_no and db.session.scalar(
        select(Employee).where(Employee.employee_no == employee_no, Employee.id != employee.id)
    ):
        raise AppError(f"Employee number {employee_no} is already used.", "employee_no_taken", 409)
    _check_schedule(schedule_start, schedule_end)
    before = employee_snapshot(employee)
    employee.name = name
    employee.employee_no = employee_no
    employee.department = (department or "").strip() or None
    employee.schedule_start, employee.schedule_end = schedule_start, schedule_end
    employee.workdays = _clean_workdays(workdays)
    after = employee_snapshot(employee)
    if after != before:
        audit.record("employee.update", "employee", employee.id, actor, before=before, after=after)
    db.session.commit()
    return employee


def set_employee_active(employee: Employee, active: bool, actor=None) -> Employee:
    """Deactivate (kept, no longer recognized, biometrics deleted after the retention period) or
    reactivate an employee; the classifier is retrained in the same transaction.
    """
    if employee.active == active:
        return employee
    employee.active = active
    employee.deactivated_at = None if active else utcnow()
    audit.record(
        "employee.reactivate" if active else "employee.deactivate",
        "employee",
        employee.id,
        actor,
        before={"active": not active},
        after={"active": active},
    )
    try:
        db.session.flush()
        templates_changed(actor, in_session=True)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return employee


def department_names() -> list[str]:
    """Every department known: those with a schedule and those named on an employee."""
    names = set(db.session.scalars(select(Department.name)))
    names.update(
        db.session.scalars(select(Employee.department).where(Employee.department.is_not(None)))
    )
    return sorted(names, key=str.casefold)


def save_department(
    name: str, schedule_start=None, schedule_end=None, workdays: str | None = None, actor=None
) -> Department:
    """Create or change a department's schedule (None everywhere: the site's default)."""
    name = clean_name(name, "A department")
    _check_schedule(schedule_start, schedule_end)
    department = db.session.scalar(select(Department).where(Department.name == name))
    before = None
    if department is None:
        department = Department(name=name)
        db.session.add(department)
    else:
        before = _department_snapshot(department)
    department.schedule_start, department.schedule_end = schedule_start, schedule_end
    department.workdays = _clean_workdays(workdays)
    db.session.flush()
    after = _department_snapshot(department)
    if after != before:
        audit.record("department.save", "department", department.id, actor, before, after)
    db.session.commit()
    return department


def _department_snapshot(department: Department) -> dict:
    return {
        "name": department.name,
        "schedule_start": department.schedule_start.strftime("%H:%M")
        if department.schedule_start
        else None,
        "schedule_end": department.schedule_end.strftime("%H:%M")
        if department.schedule_end
        else None,
        "workdays": department.workdays,
    }


@dataclass
class ReembedReport:
    """What `reembed_photos` did: photos re-embedded, photos it could not, the new classifier."""

    reembedded: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)  # (photo id, reason)
    classifier: object | None = None


def reembed_photos(actor=None, everything: bool = False) -> ReembedReport:
    """Re-make the templates of every stored enrollment photo whose templates come from another
    embedding pipeline than the loaded one (all photos with `everything`), then retrain once.

    Needed after the embedder or RECOGNITION_VIEWS changes: the classifier trains only on
    templates of the loaded pipeline's version. A photo whose face is no longer found keeps its
    old templates and is reported.
    """
    analyzer = current_models().get("faces")
    version = analyzer.version
    photos = db.session.scalars(select(EnrollmentPhoto).order_by(EnrollmentPhoto.id)).all()
    report = ReembedReport()
    for photo in photos:
        if not everything and all(t.model_version == version for t in photo.templates):
            continue
        try:
            rgb = decode_image(media.absolute(photo.path).read_bytes())
            _face, templates = analyzer.enrollment_templates(rgb)
        except (OSError, ValueError, ImageError, FaceError) as exc:
            report.failed.append((photo.id, _message(exc)))
            continue
        for old in list(photo.templates):
            db.session.delete(old)
        for variation, embedding in templates:
            db.session.add(
                FaceTemplate(
                    employee_id=photo.employee_id,
                    photo=photo,
                    variation=variation,
                    model_version=version,
                    embedding=embedding.astype("<f4").tobytes(),
                )
            )
        report.reembedded += 1
    if report.reembedded:
        db.session.commit()  # the retrain below is audited (classifier.train)
        report.classifier = templates_changed(actor)
    return report
