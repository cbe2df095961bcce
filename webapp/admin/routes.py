"""Admin pages: thin views that parse input and call services."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from webapp import media
from webapp.admin import bp
from webapp.admin.forms import ConsentForm, EmployeeForm, PhotoUploadForm
from webapp.attendance.reports import resolve_schedule, site_schedule
from webapp.auth.access import roles_required
from webapp.auth.models import Role
from webapp.employees.consent import consent_text, record_consent
from webapp.employees.models import Department, Employee, EnrollmentPhoto
from webapp.employees.services import Upload, create_employee, enroll_photos, remove_photo
from webapp.errors import AppError
from webapp.extensions import db
from webapp.messages import describe
from webapp.recognition.models import ClassifierVersion

admin_only = roles_required(Role.ADMIN)


@bp.get("/")
@roles_required(Role.ADMIN, Role.MANAGER)
def index():
    """The admin home: today at a glance."""
    return redirect(url_for("admin.dashboard"))


@bp.get("/employees")
@admin_only
def employees():
    """List employees with their enrollment state."""
    rows = db.session.execute(
        select(Employee, func.count(EnrollmentPhoto.id))
        .outerjoin(EnrollmentPhoto)
        .group_by(Employee.id)
        .order_by(Employee.name)
    ).all()
    classifier = db.session.scalar(select(ClassifierVersion).order_by(ClassifierVersion.id.desc()))
    return render_template("admin/employees.html", rows=rows, classifier=classifier)


@bp.route("/employees/new", methods=["GET", "POST"])
@admin_only
def new_employee():
    """Create an employee, then go on to their photos."""
    form = EmployeeForm()
    if form.validate_on_submit():
        try:
            employee = create_employee(
                form.name.data, form.department.data, form.employee_no.data, actor=current_user
            )
        except AppError as exc:
            flash(exc.message, "error")
        else:
            flash(_("Employee created. Now add 1 to 10 photos of their face."), "success")
            return redirect(url_for("admin.employee", employee_id=employee.id))
    return render_template("admin/employee_new.html", form=form)


def _get_employee(employee_id: int) -> Employee:
    employee = db.session.get(Employee, employee_id)
    if employee is None:
        abort(404)
    return employee


@bp.get("/employees/<int:employee_id>")
@admin_only
def employee(employee_id: int):
    """An employee's details and enrolled photos."""
    employee = _get_employee(employee_id)
    return render_template(
        "admin/employee.html",
        employee=employee,
        form=PhotoUploadForm(),
        consent_form=ConsentForm(),
        consent_text=consent_text(),
        consent_texts={c.text_version: consent_text(c.text_version) for c in employee.consents},
        schedule=resolve_schedule(
            employee,
            {d.name: d for d in db.session.scalars(select(Department))},
            site_schedule(),
        ),
    )


@bp.post("/employees/<int:employee_id>/photos")
@admin_only
def upload_photos(employee_id: int):
    """Enroll uploaded photos; name each refused photo and why."""
    employee = _get_employee(employee_id)
    form = PhotoUploadForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(message, "error")
        return redirect(url_for("admin.employee", employee_id=employee.id))
    if employee.consent is None:
        if not form.consent.data:
            flash(_("Record the employee's consent before enrolling their face."), "error")
            return redirect(url_for("admin.employee", employee_id=employee.id))
        record_consent(employee, current_user)
    uploads = [Upload(f.filename or "photo", f.read()) for f in form.photos.data]
    try:
        report = enroll_photos(employee, uploads, actor=current_user)
    except AppError as exc:
        if exc.status >= 500:  # storage full or read-only: the error page with 507/503
            raise
        flash(exc.message, "error")
        return redirect(url_for("admin.employee", employee_id=employee.id))
    if report.enrolled:
        flash(_("%(count)d photo(s) enrolled.", count=len(report.enrolled)), "success")
    for bad in report.rejected:
        reason = describe(bad.code, bad.message)
        flash(_("%(name)s was not enrolled: %(reason)s", name=bad.filename, reason=reason), "error")
    return redirect(url_for("admin.employee", employee_id=employee.id))


@bp.post("/employees/<int:employee_id>/photos/<int:photo_id>/delete")
@admin_only
def delete_photo(employee_id: int, photo_id: int):
    """Remove one enrollment photo and its templates."""
    photo = db.session.get(EnrollmentPhoto, photo_id)
    if photo is None or photo.employee_id != employee_id:
        abort(404)
    remove_photo(photo, actor=current_user)
    flash(_("Photo removed."), "success")
    return redirect(url_for("admin.employee", employee_id=employee_id))


@bp.get("/photos/<int:photo_id>")
@admin_only
def photo_file(photo_id: int):
    """Serve an enrollment photo to admins only."""
    photo = db.session.get(EnrollmentPhoto, photo_id)
    if photo is None:
        abort(404)
    return media.send(photo.path, "image/jpeg")


@bp.get("/recognize")
@admin_only
def recognize_page():
    """Try the recognizer on a photo."""
    return render_template("admin/recognize.html")
