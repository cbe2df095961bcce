"""Helpers for the admin tests: apps in a chosen timezone, people, punches and parsed tables."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.support import copy_sqlite, create_user, login, make_config

LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)


def make_app(tmp_path: Path, migrated_db: Path, **extra):
    """A fresh app on a copy of the migrated database, with config overrides."""
    from webapp import create_app

    instance = tmp_path / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    copy_sqlite(migrated_db, instance / "app.db")
    return create_app(make_config(instance, **extra))


def client_as(app, role: str, department: str | None = None):
    """A logged-in test client with a new user of `role` (a manager may get a department)."""
    from webapp.auth.models import Role
    from webapp.auth.services import create_user as create

    email = f"{role}-{department or 'x'}@example.com".lower().replace(" ", "-")
    with app.app_context():
        create(email, "long-enough-pw", Role(role), department=department)
    return login(app.test_client(), email, "long-enough-pw")


def admin_client_for(app):
    """A logged-in admin client."""
    create_user(app)
    return login(app.test_client())


def add_employee(app, name: str, department: str | None = None, **fields) -> int:
    """An employee employed since long ago; returns the id."""
    from webapp.employees.models import Employee
    from webapp.extensions import db

    with app.app_context():
        employee = Employee(
            name=name, department=department, created_at=fields.pop("created_at", LONG_AGO)
        )
        for key, value in fields.items():
            setattr(employee, key, value)
        db.session.add(employee)
        db.session.commit()
        return employee.id


def local(tz: str, text: str) -> datetime:
    """ "2025-03-03 08:55" on the wall clock of `tz`, as aware UTC."""
    naive = datetime.strptime(text, "%Y-%m-%d %H:%M")
    return naive.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def punch(app, employee_id: int, kind: str, when: datetime, **fields) -> int:
    """Store one attendance event directly; returns its id."""
    from webapp.attendance.models import AttendanceEvent, EventKind, EventStatus
    from webapp.extensions import db

    with app.app_context():
        event = AttendanceEvent(
            employee_id=employee_id,
            kind=EventKind(kind),
            occurred_at=when,
            status=EventStatus(fields.pop("status", "ok")),
            **fields,
        )
        db.session.add(event)
        db.session.commit()
        return event.id


def punches(app, employee_id: int, tz: str, *items: tuple[str, str]) -> None:
    """Several punches as ("in"/"out", "YYYY-MM-DD HH:MM" local)."""
    for kind, when in items:
        punch(app, employee_id, "check_in" if kind == "in" else "check_out", local(tz, when))


class _TableParser(HTMLParser):
    """Collects the text of every cell of the table with a given id."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and (dict(attrs).get("id") == self.table_id or self.depth):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in {"td", "th"}:
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth and tag in {"td", "th"} and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def html_table(page: str, table_id: str = "report-table") -> list[list[str]]:
    """The header and rows of an HTML table, as the reader sees the text."""
    parser = _TableParser(table_id)
    parser.feed(page)
    return parser.rows


def csv_rows(data: bytes) -> list[list[str]]:
    """A downloaded CSV (UTF-8 with BOM) as rows of strings."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def xlsx_rows(data: bytes) -> list[list]:
    """A downloaded workbook's first sheet as rows of values."""
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]
