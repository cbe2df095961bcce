"""Biometric consent: recorded before enrollment, withdrawable at any time; they own the commits."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select

from webapp import audit, media
from webapp.db import utcnow
from webapp.employees.models import BiometricConsent, Employee, EnrollmentPhoto, FaceTemplate
from webapp.errors import AppError
from webapp.extensions import db
from webapp.signals import templates_changed

log = logging.getLogger(__name__)

# Every text an employee may have agreed to stays here under its version; change the wording
# only by adding a new version, so each recorded consent still points at what was shown.
CONSENT_TEXTS = {
    "2026-11": _l(
        "I agree that my employer takes photos of my face and turns them into face templates "
        "(numbers that describe my face) so that I can check in and out at the kiosk by face. "
        "The photo taken at each check-in is kept as proof for %(proof_days)d days. My photos "
        "and templates are deleted when I withdraw this consent, and at the latest "
        "%(inactive_days)d days after I leave. I may withdraw at any time by asking an "
        "administrator; attendance records already made are kept."
    ),
}
CURRENT_CONSENT_VERSION = "2026-11"


def consent_text(version: str = CURRENT_CONSENT_VERSION) -> str:
    """The consent wording of `version`, with this site's retention periods filled in."""
    config = current_app.config
    return str(CONSENT_TEXTS[version]) % {
        "proof_days": config["RETENTION_PROOF_PHOTO_DAYS"],
        "inactive_days": config["RETENTION_INACTIVE_DAYS"],
    }


def record_consent(
    employee: Employee, actor=None, text_version: str = CURRENT_CONSENT_VERSION
) -> BiometricConsent:
    """Record that the employee agreed to the consent text `text_version` (no-op if in force)."""
    if text_version not in CONSENT_TEXTS:
        raise AppError(f"Unknown consent text version {text_version!r}.", "unknown_consent")
    current = employee.consent
    if current is not None and current.text_version == text_version:
        return current
    consent = BiometricConsent(
        employee=employee,
        text_version=text_version,
        given_at=utcnow(),
        recorded_by_id=getattr(actor, "id", None),
        recorded_by_label=audit.actor_label(actor),
    )
    db.session.add(consent)
    db.session.flush()
    audit.record(
        "employee.consent_give",
        "employee",
        employee.id,
        actor,
        before={"text_version": current.text_version} if current else None,
        after={"text_version": text_version, "consent_id": consent.id},
    )
    db.session.commit()
    return consent


@dataclass(frozen=True)
class BiometricsDeleted:
    """What was deleted for one person."""

    photos: int
    templates: int
    paths: tuple[str, ...]


def delete_biometrics_in_session(employee: Employee) -> BiometricsDeleted:
    """Delete the employee's face templates and enrollment photo rows (no commit, files stay)."""
    paths = tuple(
        db.session.scalars(
            select(EnrollmentPhoto.path).where(EnrollmentPhoto.employee_id == employee.id)
        )
    )
    templates = db.session.scalar(
        select(func.count(FaceTemplate.id)).where(FaceTemplate.employee_id == employee.id)
    )
    db.session.execute(delete(FaceTemplate).where(FaceTemplate.employee_id == employee.id))
    db.session.execute(delete(EnrollmentPhoto).where(EnrollmentPhoto.employee_id == employee.id))
    db.session.expire(employee, ["photos", "templates"])
    return BiometricsDeleted(len(paths), int(templates or 0), paths)


def remove_files(paths) -> None:
    """Delete stored files after the commit that forgot them (a failure only leaves a file)."""
    for path in paths:
        try:
            media.remove(path)
        except OSError:
            log.exception("could not delete %s", path)


def withdraw_consent(employee: Employee, actor=None) -> BiometricsDeleted:
    """Withdraw consent: in one transaction delete the person's templates and photos, mark the
    consent withdrawn and retrain without them; then delete the photo files.
    """
    consent = employee.consent
    deleted = delete_biometrics_in_session(employee)
    if consent is None and not deleted.photos and not deleted.templates:
        db.session.rollback()
        raise AppError("There is no consent to withdraw.", "no_consent", 409)
    now = utcnow()
    if consent is not None:
        consent.withdrawn_at = now
        consent.withdrawn_by_label = audit.actor_label(actor)
    audit.record(
        "employee.consent_withdraw",
        "employee",
        employee.id,
        actor,
        before={
            "text_version": consent.text_version if consent else None,
            "photos": deleted.photos,
            "templates": deleted.templates,
        },
        after={"text_version": None, "photos": 0, "templates": 0},
    )
    try:
        templates_changed(actor, in_session=True)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    remove_files(deleted.paths)
    log.info(
        "consent withdrawn for employee %s: %d photos, %d templates deleted",
        employee.id,
        deleted.photos,
        deleted.templates,
    )
    return deleted
