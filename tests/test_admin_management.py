"""Dashboard, employees' schedules, departments and user accounts, through the pages."""

from __future__ import annotations

import html
from datetime import time, timedelta

from sqlalchemy import select

from tests.admin_helpers import add_employee, admin_client_for, client_as, make_app, punch


def test_dashboard_shows_today_at_a_glance_and_kiosk_health(tmp_path, migrated_db):
    from webapp.attendance.models import Kiosk
    from webapp.attendance.services import create_kiosk
    from webapp.db import utcnow
    from webapp.extensions import db

    # Every day is a working day from 00:00 to 23:59, so "late" and "absent" are certain now.
    app = make_app(
        tmp_path, migrated_db, WORK_DAY_START="00:00", WORK_DAY_END="23:59", WORK_DAYS="1234567"
    )
    now = utcnow()
    here = add_employee(app, "Here Early", "Sales")
    late = add_employee(app, "Late Larry", "Sales")
    add_employee(app, "Absent Annie", "Film")
    midnight = now.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Seoul")).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    punch(app, here, "check_in", midnight)
    punch(app, late, "check_in", max(midnight + timedelta(minutes=1), now - timedelta(seconds=1)))
    punch(app, late, "check_in", now - timedelta(seconds=30), status="needs_review")
    with app.app_context():
        create_kiosk("front")
        create_kiosk("back")
        create_kiosk("never")
        kiosks = {k.name: k for k in db.session.scalars(select(Kiosk))}
        kiosks["front"].last_seen_at = now - timedelta(minutes=1)
        kiosks["back"].last_seen_at = now - timedelta(hours=3)
        db.session.commit()

    page = admin_client_for(app).get("/admin/dashboard").get_data(as_text=True)
    assert 'id="count-present">2<' in page
    assert 'id="count-late">1<' in page and "Late Larry" in page
    assert 'id="count-absent">1<' in page and "Absent Annie" in page
    assert 'id="count-pending">1<' in page
    assert "kiosk-online" in page and "kiosk-offline" in page and "kiosk-never" in page
    assert "<svg" in page  # arrivals per day

    sales = client_as(app, "manager", "Sales").get("/admin/dashboard").get_data(as_text=True)
    assert 'id="count-absent">0<' in sales and "Absent Annie" not in sales
    assert "count-pending" not in sales and "kiosk-online" not in sales


def test_edit_an_employee_and_their_schedule_with_audit(app, admin_client):
    from webapp.audit import AuditEntry
    from webapp.employees.models import Employee
    from webapp.extensions import db

    employee = add_employee(app, "Night Owl", "Plant")
    form = admin_client.get(f"/admin/employees/{employee}/edit").get_data(as_text=True)
    assert "Night Owl" in form and 'name="schedule_start"' in form
    half = admin_client.post(
        f"/admin/employees/{employee}/edit",
        data={"name": "Night Owl", "department": "Plant", "schedule_start": "22:00"},
    )
    assert "Give both the start and the end, or neither." in half.get_data(as_text=True)
    response = admin_client.post(
        f"/admin/employees/{employee}/edit",
        data={
            "name": "Night Owl",
            "employee_no": "P-7",
            "department": "Plant",
            "schedule_start": "22:00",
            "schedule_end": "06:00",
            "workdays": ["1", "2", "3", "4"],
        },
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "Changes saved." in page and "22:00–06:00 (ends the next day), Mon Tue Wed Thu" in page
    with app.app_context():
        row = db.session.get(Employee, employee)
        assert (row.schedule_start, row.schedule_end, row.workdays) == (time(22), time(6), "1234")
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "employee.update"))
        assert entry.before["schedule_start"] is None and entry.after["schedule_start"] == "22:00"
        assert entry.after["employee_no"] == "P-7"


def test_department_schedules_are_saved_and_listed(app, admin_client):
    add_employee(app, "Baker", "Bakery")
    page = admin_client.post(
        "/admin/departments",
        data={
            "name": "Bakery",
            "schedule_start": "05:00",
            "schedule_end": "13:00",
            "workdays": ["1", "2", "3", "4", "5", "6"],
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Schedule saved for Bakery." in page
    assert "05:00–13:00" in page and "Mon Tue Wed Thu Fri Sat" in page
    employee_page = admin_client.get("/admin/employees/1").get_data(as_text=True)
    assert "05:00–13:00, Mon Tue Wed Thu Fri Sat" in employee_page


def test_admin_creates_a_manager_for_a_department_and_changes_roles(app, admin_client):
    from webapp.auth.models import Role, User
    from webapp.extensions import db

    add_employee(app, "Seller", "Sales")
    created = admin_client.post(
        "/admin/users",
        data={
            "email": "boss@example.com",
            "password": "long-enough-pw",
            "role": "manager",
            "department": "Sales",
        },
        follow_redirects=True,
    )
    assert "Account boss@example.com created." in created.get_data(as_text=True)
    with app.app_context():
        boss = db.session.scalar(select(User).where(User.email == "boss@example.com"))
        assert (boss.role, boss.department) == (Role.MANAGER, "Sales")
        boss_id = boss.id
    admin_client.post(
        f"/admin/users/{boss_id}", data={"role": "manager", "department": "Film", "active": "1"}
    )
    with app.app_context():
        assert db.session.get(User, boss_id).department == "Film"
    # An admin cannot lock themselves out, and the last admin stays.
    own = admin_client.post("/admin/users/1", data={"role": "studio"}, follow_redirects=True)
    assert "cannot take away your own admin access" in own.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, 1).role == Role.ADMIN


def test_the_last_admin_cannot_be_demoted(app):
    from webapp.auth.models import Role, User
    from webapp.auth.services import update_user
    from webapp.errors import AppError
    from webapp.extensions import db

    admin = admin_client_for(app)
    assert admin.get("/admin/users").status_code == 200
    with app.app_context():
        only = db.session.get(User, 1)
        try:
            update_user(only, Role.STUDIO, None, True, actor="cli")
        except AppError as exc:
            assert exc.code == "last_admin"
        else:
            raise AssertionError("the last admin was demoted")


def test_cli_creates_a_manager_with_a_department(app, runner):
    from webapp.auth.models import User
    from webapp.extensions import db

    result = runner.invoke(
        args=[
            "users",
            "create",
            "lead@example.com",
            "--role",
            "manager",
            "--department",
            "Sales",
            "--password",
            "long-enough-pw",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "lead@example.com"))
        assert user.department == "Sales"


def test_pages_are_translated_to_korean(app, admin_client):
    add_employee(app, "김민수", "영업")
    admin_client.get("/lang/ko")
    for url, words in [
        ("/admin/dashboard", ["오늘", "출근", "지각", "결근"]),
        ("/admin/records", ["출퇴근 기록", "검색"]),
        ("/admin/reports/daily", ["일일 근태표", "첫 출근"]),
        ("/admin/reports/monthly", ["월간 요약", "근무 시간"]),
        ("/admin/privacy", ["생체 정보", "보존"]),
    ]:
        page = html.unescape(admin_client.get(url).get_data(as_text=True))
        for word in words:
            assert word in page, (url, word)
