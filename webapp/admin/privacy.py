"""Privacy: consent on file, retention periods and what the next run deletes, biometric audit."""

from __future__ import annotations

from flask import current_app, render_template
from sqlalchemy import func, select

from webapp.admin import bp
from webapp.admin.access import admin_only
from webapp.admin.audit_text import describe_entry
from webapp.audit import AuditEntry
from webapp.employees.consent import CURRENT_CONSENT_VERSION, consent_text
from webapp.employees.models import Employee, FaceTemplate
from webapp.extensions import db
from webapp.privacy.retention import plan_retention

BIOMETRIC_ACTIONS = (
    "employee.enroll",
    "employee.photo_remove",
    "employee.consent_give",
    "employee.consent_withdraw",
    "employee.deactivate",
    "employee.reactivate",
    "retention.biometrics_delete",
    "retention.proof_photos_delete",
)


@bp.get("/privacy")
@admin_only
def privacy():
    """Show that biometric data is handled lawfully: consent, retention and the log."""
    templates = dict(
        db.session.execute(
            select(FaceTemplate.employee_id, func.count(FaceTemplate.id)).group_by(
                FaceTemplate.employee_id
            )
        ).all()
    )
    people = db.session.scalars(select(Employee).order_by(Employee.name, Employee.id)).all()
    without_consent = [e for e in people if templates.get(e.id) and e.consent is None]
    log = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action.in_(BIOMETRIC_ACTIONS))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(50)
    ).all()
    names = {e.id: e.name for e in people}
    return render_template(
        "admin/privacy.html",
        holders=[e for e in people if templates.get(e.id) or e.consents],
        templates=templates,
        without_consent=without_consent,
        plan=plan_retention(),
        config=current_app.config,
        consent_version=CURRENT_CONSENT_VERSION,
        consent_text=consent_text(),
        log=[describe_entry(entry, names) for entry in log],
    )
