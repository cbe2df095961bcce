"""Retention: delete biometric data that is no longer needed; idempotent, logged, dry-run able.

- Face templates and enrollment photos of employees deactivated more than
  RETENTION_INACTIVE_DAYS ago (the employee and their attendance records stay).
- Proof photos of attendance events older than RETENTION_PROOF_PHOTO_DAYS (the events stay).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import exists, func, select, update

from webapp import audit
from webapp.attendance.models import AttendanceEvent
from webapp.db import utcnow
from webapp.employees.consent import delete_biometrics_in_session, remove_files
from webapp.employees.models import Employee, EnrollmentPhoto, FaceTemplate
from webapp.extensions import db
from webapp.signals import templates_changed

log = logging.getLogger(__name__)
PROOF_BATCH = 500


@dataclass
class RetentionPlan:
    """What a retention run deletes (or, dry, would delete)."""

    now: datetime
    inactive_cutoff: datetime
    proof_cutoff: datetime
    employees: list[tuple[Employee, int, int]] = field(default_factory=list)  # photos, templates
    proof_events: int = 0

    @property
    def empty(self) -> bool:
        """True when there is nothing to delete."""
        return not self.employees and not self.proof_events


def plan_retention(now: datetime | None = None) -> RetentionPlan:
    """Find what is past its retention period now."""
    now = now or utcnow()
    config = current_app.config
    plan = RetentionPlan(
        now=now,
        inactive_cutoff=now - timedelta(days=int(config["RETENTION_INACTIVE_DAYS"])),
        proof_cutoff=now - timedelta(days=int(config["RETENTION_PROOF_PHOTO_DAYS"])),
    )
    has_biometrics = exists().where(EnrollmentPhoto.employee_id == Employee.id) | exists().where(
        FaceTemplate.employee_id == Employee.id
    )
    for employee in db.session.scalars(
        select(Employee)
        .where(
            Employee.active.is_(False),
            Employee.deactivated_at.is_not(None),
            Employee.deactivated_at <= plan.inactive_cutoff,
            has_biometrics,
        )
        .order_by(Employee.id)
    ):
        photos = db.session.scalar(
            select(func.count(EnrollmentPhoto.id)).where(EnrollmentPhoto.employee_id == employee.id)
        )
        templates = db.session.scalar(
            select(func.count(FaceTemplate.id)).where(FaceTemplate.employee_id == employee.id)
        )
        plan.employees.append((employee, photos, templates))
    plan.proof_events = db.session.scalar(_proof_query(plan, func.count(AttendanceEvent.id)))
    return plan


def _proof_query(plan: RetentionPlan, *columns):
    return select(*columns).where(
        AttendanceEvent.proof_photo.is_not(None), AttendanceEvent.occurred_at <= plan.proof_cutoff
    )


@dataclass
class RetentionReport:
    """What a run deleted."""

    employees: int = 0
    photos: int = 0
    templates: int = 0
    proof_photos: int = 0


def run_retention(
    now: datetime | None = None, dry_run: bool = False, actor="retention"
) -> tuple[RetentionPlan, RetentionReport]:
    """Delete what is past its retention period (nothing when `dry_run`); safe to run again."""
    plan = plan_retention(now)
    report = RetentionReport()
    if dry_run or plan.empty:
        return plan, report

    paths: list[str] = []
    for employee, _photos, _templates in plan.employees:
        deleted = delete_biometrics_in_session(employee)
        paths.extend(deleted.paths)
        report.employees += 1
        report.photos += deleted.photos
        report.templates += deleted.templates
        audit.record(
            "retention.biometrics_delete",
            "employee",
            employee.id,
            actor,
            before={"photos": deleted.photos, "templates": deleted.templates},
            after={"photos": 0, "templates": 0},
        )
    try:
        if plan.employees:
            templates_changed(actor, in_session=True)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    remove_files(paths)

    # Proof photos in batches, each committed before its files go.
    while True:
        rows = db.session.execute(
            _proof_query(plan, AttendanceEvent.id, AttendanceEvent.proof_photo)
            .order_by(AttendanceEvent.id)
            .limit(PROOF_BATCH)
        ).all()
        if not rows:
            break
        ids = [row.id for row in rows]
        db.session.execute(
            update(AttendanceEvent)
            .where(AttendanceEvent.id.in_(ids))
            .values(proof_photo=None, proof_deleted_at=plan.now)
        )
        audit.record(
            "retention.proof_photos_delete",
            "attendance_event",
            None,
            actor,
            before={"events": len(ids), "first_id": ids[0], "last_id": ids[-1]},
            after={"proof_photos": 0, "older_than": plan.proof_cutoff.isoformat()},
        )
        db.session.commit()
        remove_files(row.proof_photo for row in rows)
        report.proof_photos += len(ids)
    log.info(
        "retention: %d employees' biometrics deleted (%d photos, %d templates), %d proof photos",
        report.employees,
        report.photos,
        report.templates,
        report.proof_photos,
    )
    return plan, report
