"""Attendance records: the list with filters, one record with its history, corrections, review."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from webapp import media
from webapp.admin import bp
from webapp.admin.access import admin_only, check_in_scope, current_scope, readers
from webapp.admin.forms import MissedPunchForm, choices
from webapp.admin.params import parse_int, parse_optional_day
from webapp.admin.tables import csv_response, records_table, xlsx_response
from webapp.attendance import records
from webapp.attendance.models import AttendanceEvent, EventKind, EventStatus, Kiosk
from webapp.attendance.reports import employees_in_scope
from webapp.employees.models import Employee
from webapp.employees.services import department_names
from webapp.errors import AppError
from webapp.extensions import db

EXPORT_LIMIT = 50_000


def _filters(scope: records.Scope) -> records.RecordFilter:
    """The records filter from the query string (a manager's department is fixed); unknown
    choices are ignored, malformed numbers and dates are a 400."""
    args = request.args
    kind = args.get("kind")
    status = args.get("status")
    employee = args.get("employee", "")
    return records.RecordFilter(
        start=parse_optional_day(args.get("from"), "from"),
        end=parse_optional_day(args.get("to"), "to"),
        employee_id=parse_int(employee, "employee"),
        department=(args.get("department") or None) if scope.everyone else None,
        kiosk=args.get("kiosk") or None,
        kind=EventKind(kind) if kind in {k.value for k in EventKind} else None,
        status=EventStatus(status) if status in {s.value for s in EventStatus} else None,
        needs_review=args.get("review") == "1",
        q=args.get("q", "")[:120],
        sort=args.get("sort") if args.get("sort") in records.SORTS else "time",
        descending=args.get("dir", "desc") != "asc",
        page=parse_int(args.get("page"), "page", default=1),
    )


def _event_in_scope(event_id: int) -> AttendanceEvent:
    event = db.session.get(AttendanceEvent, event_id)
    if event is None:
        abort(404)
    check_in_scope(event.employee)
    return event


@bp.get("/records")
@readers
def records_list():
    """Attendance events: filter, search, sort, page; each row links to its record and proof."""
    scope = current_scope()
    filters = _filters(scope)
    page = records.list_records(filters, scope)
    return render_template(
        "admin/records.html",
        page=page,
        filters=filters,
        employees=employees_in_scope(scope),
        departments=department_names() if scope.everyone else [],
        kiosks=db.session.scalars(select(Kiosk).order_by(Kiosk.name)).all(),
        review_reason=records.review_reason,
        scope=scope,
    )


@bp.get("/records/export.<any(csv, xlsx):fmt>")
@readers
def records_export(fmt: str):
    """The filtered records (every page) as CSV or XLSX."""
    scope = current_scope()
    query = records.records_query(_filters(scope), scope).limit(EXPORT_LIMIT)
    table = records_table(list(db.session.scalars(query)), records.site_timezone())
    filename = f"attendance-records.{fmt}"
    return csv_response(table, filename) if fmt == "csv" else xlsx_response(table, filename)


@bp.get("/records/<int:event_id>")
@readers
def record(event_id: int):
    """One event: its facts, proof photo, history of changes and (for admins) corrections."""
    event = _event_in_scope(event_id)
    return render_template(
        "admin/record.html",
        event=event,
        history=records.event_history(event),
        reason=records.review_reason(event),
    )


@bp.get("/records/<int:event_id>/proof")
@readers
def proof_photo(event_id: int):
    """The photo taken at check-in, to admins and the employee's manager only."""
    event = _event_in_scope(event_id)
    if not event.proof_photo:
        abort(404)
    try:
        return media.send(event.proof_photo, "image/jpeg")
    except (ValueError, FileNotFoundError):
        abort(404)


@bp.route("/records/new", methods=["GET", "POST"])
@admin_only
def new_record():
    """Add a missed check-in or check-out, with a reason."""
    form = MissedPunchForm()
    people = db.session.scalars(select(Employee).order_by(Employee.name, Employee.id)).all()
    form.employee_id.choices = choices(
        (e.id, e.name if e.active else _("%(name)s (inactive)", name=e.name)) for e in people
    )
    if request.method == "GET" and request.args.get("employee"):
        form.employee_id.data = parse_int(request.args["employee"], "employee")
    if form.validate_on_submit():
        employee = db.session.get(Employee, form.employee_id.data)
        try:
            occurred_at = records.local_to_utc(form.day.data, form.clock.data)
            event = records.add_missed_punch(
                employee, EventKind(form.kind.data), occurred_at, form.reason.data, current_user
            )
        except AppError as exc:
            flash(exc.message, "error")
        else:
            flash(_("The missed punch was added."), "success")
            return redirect(url_for("admin.record", event_id=event.id))
    return render_template("admin/record_new.html", form=form)


def _next_url(event: AttendanceEvent) -> str:
    target = request.form.get("next", "")
    if target.startswith("/admin/") and "//" not in target:
        return target
    return url_for("admin.record", event_id=event.id)


def _correct(event_id: int, change, message: str):
    event = _event_in_scope(event_id)
    try:
        change(event)
    except AppError as exc:
        flash(exc.message, "error")
    else:
        flash(message, "success")
    return redirect(_next_url(event))


@bp.post("/records/<int:event_id>/void")
@admin_only
def void_record(event_id: int):
    """Void a wrong event (it is kept and shown, never counted)."""
    reason = request.form.get("reason", "")
    return _correct(
        event_id,
        lambda event: records.void_event(event, reason, current_user),
        _("The record was voided."),
    )


@bp.post("/records/<int:event_id>/confirm")
@admin_only
def confirm_record(event_id: int):
    """Confirm an event that waited for review."""
    reason = request.form.get("reason", "")
    return _correct(
        event_id,
        lambda event: records.confirm_event(event, current_user, reason),
        _("The record was confirmed."),
    )


@bp.post("/records/<int:event_id>/restore")
@admin_only
def restore_record(event_id: int):
    """Undo a void."""
    reason = request.form.get("reason", "")
    return _correct(
        event_id,
        lambda event: records.restore_event(event, reason, current_user),
        _("The record counts again."),
    )


@bp.get("/review")
@admin_only
def review():
    """Events waiting for an admin: weak matches and those the kiosk flagged."""
    return render_template(
        "admin/review.html",
        events=records.review_queue(current_scope()),
        review_reason=records.review_reason,
        accept=current_app.config["REVIEW_ACCEPT_THRESHOLD"],
        reject=current_app.config["REVIEW_REJECT_THRESHOLD"],
    )
