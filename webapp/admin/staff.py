"""Employees beyond enrollment: edit, schedule, deactivate, consent; departments' schedules."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from webapp.admin import bp
from webapp.admin.access import admin_only
from webapp.admin.forms import DepartmentForm, EmployeeEditForm
from webapp.attendance.reports import site_schedule
from webapp.employees.consent import withdraw_consent
from webapp.employees.models import Department, Employee
from webapp.employees.services import (
    department_names,
    save_department,
    set_employee_active,
    update_employee,
)
from webapp.errors import AppError
from webapp.extensions import db


def _employee(employee_id: int) -> Employee:
    employee = db.session.get(Employee, employee_id)
    if employee is None:
        abort(404)
    return employee


@bp.route("/employees/<int:employee_id>/edit", methods=["GET", "POST"])
@admin_only
def edit_employee(employee_id: int):
    """Change name, number, department and the employee's own schedule."""
    employee = _employee(employee_id)
    form = EmployeeEditForm(obj=employee)
    if not form.is_submitted():
        form.workdays.data = list(employee.workdays or "")
    if form.validate_on_submit():
        try:
            update_employee(
                employee,
                name=form.name.data,
                employee_no=form.employee_no.data,
                department=form.department.data,
                schedule_start=form.schedule_start.data,
                schedule_end=form.schedule_end.data,
                workdays="".join(form.workdays.data or []),
                actor=current_user,
            )
        except AppError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            flash(_("Changes saved."), "success")
            return redirect(url_for("admin.employee", employee_id=employee.id))
    return render_template(
        "admin/employee_edit.html",
        employee=employee,
        form=form,
        departments=department_names(),
        default=site_schedule(),
    )


@bp.post("/employees/<int:employee_id>/deactivate")
@admin_only
def deactivate_employee(employee_id: int):
    """Deactivate: no longer recognized; records kept; biometrics deleted after the period."""
    set_employee_active(_employee(employee_id), False, current_user)
    flash(_("The employee was deactivated and is no longer recognized."), "success")
    return redirect(url_for("admin.employee", employee_id=employee_id))


@bp.post("/employees/<int:employee_id>/reactivate")
@admin_only
def reactivate_employee(employee_id: int):
    """Reactivate a deactivated employee."""
    set_employee_active(_employee(employee_id), True, current_user)
    flash(_("The employee is active again."), "success")
    return redirect(url_for("admin.employee", employee_id=employee_id))


@bp.post("/employees/<int:employee_id>/consent/withdraw")
@admin_only
def withdraw_employee_consent(employee_id: int):
    """Withdraw consent: delete the face templates and photos now and retrain."""
    employee = _employee(employee_id)
    try:
        deleted = withdraw_consent(employee, current_user)
    except AppError as exc:
        flash(exc.message, "error")
    else:
        flash(
            _(
                "Consent withdrawn: %(photos)d photo(s) and %(templates)d face template(s) "
                "deleted; the recognizer no longer knows this person.",
                photos=deleted.photos,
                templates=deleted.templates,
            ),
            "success",
        )
    return redirect(url_for("admin.employee", employee_id=employee_id))


@bp.route("/departments", methods=["GET", "POST"])
@admin_only
def departments():
    """Each department's schedule (empty: the site's default)."""
    form = DepartmentForm()
    if form.validate_on_submit():
        try:
            save_department(
                form.name.data,
                form.schedule_start.data,
                form.schedule_end.data,
                "".join(form.workdays.data or []),
                actor=current_user,
            )
        except AppError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            flash(_("Schedule saved for %(name)s.", name=form.name.data.strip()), "success")
            return redirect(url_for("admin.departments"))
    schedules = {d.name: d for d in db.session.scalars(select(Department))}
    headcount = dict(
        db.session.execute(
            select(Employee.department, func.count(Employee.id))
            .where(Employee.active.is_(True))
            .group_by(Employee.department)
        ).all()
    )
    return render_template(
        "admin/departments.html",
        form=form,
        names=department_names(),
        schedules=schedules,
        headcount=headcount,
        default=site_schedule(),
    )


@bp.post("/employees/<int:employee_id>/consent")
@admin_only
def record_employee_consent(employee_id: int):
    """Record that the employee agreed to the current consent text."""
    from webapp.admin.forms import ConsentForm
    from webapp.employees.consent import record_consent

    employee = _employee(employee_id)
    form = ConsentForm()
    if not (form.validate_on_submit() and form.agreed.data):
        flash(_("Tick the box to confirm the employee agreed."), "error")
    else:
        record_consent(employee, current_user)
        flash(_("Consent recorded."), "success")
    return redirect(url_for("admin.employee", employee_id=employee_id))
