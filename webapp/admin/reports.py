"""Reports: the daily sheet and the monthly summary, on screen, in charts, as CSV and XLSX."""

from __future__ import annotations

from datetime import date, timedelta

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _

from webapp.admin import bp
from webapp.admin.access import current_scope, readers
from webapp.admin.charts import bar_chart, column_chart
from webapp.admin.params import parse_day, parse_month
from webapp.admin.tables import csv_response, daily_table, monthly_table, xlsx_response
from webapp.attendance import reports
from webapp.employees.services import department_names


def _department(scope) -> str | None:
    """The department filter; a manager is always held to their own."""
    if not scope.everyone:
        return None
    return request.args.get("department") or None


def _daily(scope):
    ctx = reports.Context.current()
    day = parse_day(request.args.get("day"), ctx.today())
    department = _department(scope)
    days = reports.compute_days(scope, day, day, ctx, department=department)
    return ctx, day, department, days


def _month(ctx) -> tuple[int, int]:
    today = ctx.today()
    return parse_month(request.args.get("month"), (today.year, today.month))


def _monthly(scope):
    ctx = reports.Context.current()
    year, month = _month(ctx)
    first, last = reports.month_bounds(year, month)
    department = _department(scope)
    days = reports.compute_days(scope, first, last, ctx, department=department)
    return ctx, (year, month), (first, last), department, days


@bp.get("/reports")
@readers
def reports_index():
    """The reports start with today's sheet."""
    return redirect(url_for("admin.report_daily"))


@bp.get("/reports/daily")
@readers
def report_daily():
    """First in, last out, hours, late and left early for everyone on one day."""
    scope = current_scope()
    ctx, day, department, days = _daily(scope)
    table = daily_table(days, day, ctx.tz)
    histogram = reports.arrival_histogram(days, ctx.tz)
    return render_template(
        "admin/report_daily.html",
        table=table,
        day=day,
        today=ctx.today(),
        previous=day - timedelta(days=1),
        following=day + timedelta(days=1),
        department=department,
        departments=department_names() if scope.everyone else [],
        scope=scope,
        counts=_counts(days),
        histogram=column_chart(histogram, _("Arrival times"), label_every=_every(histogram)),
    )


def _counts(days: list[reports.Day]) -> dict:
    return {
        "present": sum(d.present for d in days),
        "late": sum(reports.LATE in d.status for d in days),
        "absent": sum(d.absent for d in days),
        "missing": sum(d.missing_check_outs for d in days),
    }


def _every(points: list) -> int:
    return max(1, len(points) // 12)


@bp.get("/reports/daily.<any(csv, xlsx):fmt>")
@readers
def report_daily_export(fmt: str):
    """The daily sheet as CSV or XLSX, the same rows and numbers as the page."""
    ctx, day, department, days = _daily(current_scope())
    table = daily_table(days, day, ctx.tz)
    name = f"attendance-daily-{day.isoformat()}{'-' + department if department else ''}.{fmt}"
    return csv_response(table, _safe(name)) if fmt == "csv" else xlsx_response(table, _safe(name))


@bp.get("/reports/monthly")
@readers
def report_monthly():
    """Each employee's month, with arrivals per day, arrival times and hours per employee."""
    scope = current_scope()
    ctx, (year, month), (first, last), department, days = _monthly(scope)
    lines = reports.summarize_month(days)
    table = monthly_table(lines, year, month)
    arrivals = [(str(day.day), count) for day, count in reports.arrivals_per_day(days, first, last)]
    histogram = reports.arrival_histogram(days, ctx.tz)
    hours = [(line.person.name, line.hours) for line in lines]
    previous = date(year - 1, 12, 1) if month == 1 else date(year, month - 1, 1)
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return render_template(
        "admin/report_monthly.html",
        table=table,
        month=f"{year}-{month:02d}",
        previous=previous.strftime("%Y-%m"),
        following=following.strftime("%Y-%m"),
        department=department,
        departments=department_names() if scope.everyone else [],
        scope=scope,
        arrivals_chart=column_chart(arrivals, _("Arrivals per day"), label_every=2),
        histogram_chart=column_chart(histogram, _("Arrival times"), label_every=_every(histogram)),
        hours_chart=bar_chart(hours, _("Hours per employee"), unit=" h"),
    )


@bp.get("/reports/monthly.<any(csv, xlsx):fmt>")
@readers
def report_monthly_export(fmt: str):
    """The monthly summary as CSV or XLSX, the same rows and numbers as the page."""
    _ctx, (year, month), _bounds, department, days = _monthly(current_scope())
    table = monthly_table(reports.summarize_month(days), year, month)
    name = f"attendance-monthly-{year}-{month:02d}{'-' + department if department else ''}.{fmt}"
    return csv_response(table, _safe(name)) if fmt == "csv" else xlsx_response(table, _safe(name))


def _safe(filename: str) -> str:
    """A file name without characters that break the header (department names are free text)."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in filename)
