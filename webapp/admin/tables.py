"""Report tables: one list of rows that the page, the CSV and the XLSX all print, so they agree."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Response
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from webapp.attendance import reports
from webapp.attendance.models import AttendanceEvent, EventKind, EventStatus

STATUS_LABELS = {
    reports.PRESENT: _l("Present"),
    reports.LATE: _l("Late"),
    reports.LEFT_EARLY: _l("Left early"),
    reports.NO_CHECK_OUT: _l("No check-out"),
    reports.NO_CHECK_IN: _l("No check-in"),
    reports.AT_WORK: _l("At work"),
    reports.ABSENT: _l("Absent"),
    reports.NOT_IN_YET: _l("Not in yet"),
    reports.DAY_OFF: _l("Day off"),
    reports.WORKED_DAY_OFF: _l("Worked on a day off"),
    reports.UPCOMING: _l("Upcoming"),
    reports.NOT_EMPLOYED: _l("Not employed"),
    reports.PENDING_REVIEW: _l("Waiting for review"),
}
KIND_LABELS = {EventKind.CHECK_IN: _l("Check-in"), EventKind.CHECK_OUT: _l("Check-out")}
EVENT_STATUS_LABELS = {
    EventStatus.OK: _l("Counted"),
    EventStatus.NEEDS_REVIEW: _l("Needs review"),
    EventStatus.VOIDED: _l("Voided"),
}


@dataclass(frozen=True)
class Column:
    """A column: its key in each row, its header and how its values are written."""

    key: str
    label: str
    kind: str = "text"  # text, date, int, hours, similarity, datetime


@dataclass
class Table:
    """Columns and rows (dicts of plain values); `flags` mark rows for the page (e.g. "absent")."""

    columns: list[Column]
    rows: list[dict]
    flags: list[list[str]]
    title: str


def cell_text(value, kind: str = "text") -> str:
    """How a value is written on the page and in the CSV."""
    if value is None:
        return ""
    if kind == "hours":
        return f"{value:.2f}"
    if kind == "similarity":
        return f"{value:.3f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def clock(moment: datetime | None, day: date, tz: ZoneInfo) -> str | None:
    """A UTC moment as site-local "HH:MM", with "(+1)" when it falls on the next day."""
    if moment is None:
        return None
    local = moment.astimezone(tz)
    text = local.strftime("%H:%M")
    shift = (local.date() - day).days
    return f"{text} ({shift:+d})" if shift else text


def status_text(codes: list[str]) -> str:
    """A day's status codes in the reader's language."""
    return ", ".join(str(STATUS_LABELS[code]) for code in codes)


def daily_table(days: list[reports.Day], day: date, tz: ZoneInfo) -> Table:
    """The daily sheet."""
    columns = [
        Column("name", _("Employee")),
        Column("employee_no", _("Employee number")),
        Column("department", _("Department")),
        Column("schedule", _("Schedule")),
        Column("first_in", _("First in")),
        Column("last_out", _("Last out")),
        Column("hours", _("Hours worked"), "hours"),
        Column("late", _("Late (min)"), "int"),
        Column("early", _("Left early (min)"), "int"),
        Column("status", _("Status")),
    ]
    rows, flags = [], []
    for record in days:
        rows.append(
            {
                "name": record.person.name,
                "employee_no": record.person.employee_no,
                "department": record.person.department,
                "schedule": record.schedule.label()
                if record.schedule.is_workday(record.day)
                else None,
                "first_in": clock(record.first_in, record.day, tz),
                "last_out": clock(record.last_out, record.day, tz),
                "hours": record.hours if record.present else None,
                "late": record.late_minutes,
                "early": record.early_minutes,
                "status": status_text(record.status),
                "_employee_id": record.person.id,
            }
        )
        flags.append(list(record.status))
    return Table(columns, rows, flags, _("Daily sheet %(day)s", day=day.isoformat()))


def monthly_table(lines: list[reports.MonthLine], year: int, month: int) -> Table:
    """The monthly summary."""
    columns = [
        Column("name", _("Employee")),
        Column("employee_no", _("Employee number")),
        Column("department", _("Department")),
        Column("workdays", _("Working days"), "int"),
        Column("present", _("Days present"), "int"),
        Column("absent", _("Days absent"), "int"),
        Column("late", _("Days late"), "int"),
        Column("left_early", _("Days left early"), "int"),
        Column("missing", _("Missing check-outs"), "int"),
        Column("hours", _("Hours worked"), "hours"),
    ]
    rows, flags = [], []
    for line in lines:
        rows.append(
            {
                "name": line.person.name,
                "employee_no": line.person.employee_no,
                "department": line.person.department,
                "workdays": line.workdays,
                "present": line.present,
                "absent": line.absent,
                "late": line.late,
                "left_early": line.left_early,
                "missing": line.missing_check_outs,
                "hours": line.hours,
                "_employee_id": line.person.id,
            }
        )
        flags.append(["absent"] if line.absent else [])
    return Table(columns, rows, flags, _("Monthly summary %(month)s", month=f"{year}-{month:02d}"))


def records_table(events: list[AttendanceEvent], tz: ZoneInfo) -> Table:
    """Attendance events as a table (the records export)."""
    columns = [
        Column("time", _("Time"), "datetime"),
        Column("name", _("Employee")),
        Column("employee_no", _("Employee number")),
        Column("department", _("Department")),
        Column("kind", _("Type")),
        Column("status", _("Status")),
        Column("similarity", _("Similarity"), "similarity"),
        Column("kiosk", _("Kiosk")),
        Column("reason", _("Reason")),
        Column("id", _("Record"), "int"),
    ]
    rows = [
        {
            "time": event.occurred_at.astimezone(tz).replace(tzinfo=None, microsecond=0),
            "name": event.employee.name,
            "employee_no": event.employee.employee_no,
            "department": event.employee.department,
            "kind": str(KIND_LABELS[event.kind]),
            "status": str(EVENT_STATUS_LABELS[event.status]),
            "similarity": event.similarity,
            "kiosk": event.kiosk.name if event.kiosk else _("added by hand"),
            "reason": event.correction_reason,
            "id": event.id,
        }
        for event in events
    ]
    return Table(columns, rows, [[] for _row in rows], _("Attendance records"))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value, kind: str) -> str:
    """A cell's text; free text that a spreadsheet would run as a formula gets a leading '."""
    text = cell_text(value, kind)
    if kind == "text" and isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_response(table: Table, filename: str) -> Response:
    """The table as a CSV download (UTF-8 with a BOM, so spreadsheet programs read Korean)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.label for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(row[c.key], c.kind) for c in table.columns])
    return _download(buffer.getvalue().encode("utf-8-sig"), filename, "text/csv; charset=utf-8")


XLSX_FORMATS = {"hours": "0.00", "similarity": "0.000", "date": "yyyy-mm-dd"}


def xlsx_value(value):
    """A cell value Excel accepts: control characters (from old data) are dropped from text."""
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def xlsx_response(table: Table, filename: str) -> Response:
    """The table as an Excel workbook: numbers as numbers, the same values as the page."""
    book = Workbook()
    sheet = book.active
    sheet.title = "report"
    sheet.append([c.label for c in table.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table.rows:
        sheet.append([xlsx_value(row[c.key]) for c in table.columns])
        for column_index, column in enumerate(table.columns, start=1):
            cell = sheet.cell(row=sheet.max_row, column=column_index)
            if cell.data_type == "f":  # text such as "=1+1" is data here, never a formula
                cell.data_type = "s"
            if column.kind in XLSX_FORMATS:
                cell.number_format = XLSX_FORMATS[column.kind]
            elif column.kind == "datetime":
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
    for column_index, column in enumerate(table.columns, start=1):
        width = max(
            [len(column.label)] + [len(cell_text(r[column.key], column.kind)) for r in table.rows]
        )
        sheet.column_dimensions[sheet.cell(row=1, column=column_index).column_letter].width = min(
            max(10, width + 2), 48
        )
    sheet.freeze_panes = "B2"
    buffer = io.BytesIO()
    book.save(buffer)
    return _download(
        buffer.getvalue(),
        filename,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _download(data: bytes, filename: str, mimetype: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
