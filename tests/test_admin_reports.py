"""Report arithmetic on hand-checked weeks, two timezones, and exports that match the screen."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from tests.admin_helpers import (
    add_employee,
    admin_client_for,
    client_as,
    csv_rows,
    html_table,
    local,
    make_app,
    punch,
    punches,
    xlsx_rows,
)

SEOUL = "Asia/Seoul"
NEW_YORK = "America/New_York"
LATER = datetime(2026, 1, 1, tzinfo=UTC)  # "now" for computations: long after every case


# --- shifts, without an app ----------------------------------------------------------------------


def _p(hour: float, kind: str):
    from webapp.attendance.models import EventKind
    from webapp.attendance.reports import Punch

    at = datetime(2025, 3, 3, tzinfo=UTC) + timedelta(hours=hour)
    return Punch(at, EventKind.CHECK_IN if kind == "in" else EventKind.CHECK_OUT)


def _spans(shifts):
    base = datetime(2025, 3, 3, tzinfo=UTC)
    return [
        (
            None if s.start is None else (s.start - base) / timedelta(hours=1),
            None if s.end is None else (s.end - base) / timedelta(hours=1),
            s.in_progress,
        )
        for s in shifts
    ]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # in, out: one shift
        ([(9, "in"), (18, "out")], [(9, 18, False)]),
        # duplicate check-in (the first counts) and duplicate check-out (the last counts)
        ([(9, "in"), (9.05, "in"), (18, "out"), (18.1, "out")], [(9, 18.1, False)]),
        # lunch break: two shifts on one day
        ([(9, "in"), (12, "out"), (13, "in"), (18, "out")], [(9, 12, False), (13, 18, False)]),
        # across midnight
        ([(22, "in"), (30, "out")], [(22, 30, False)]),
        # forgotten check-out: the next day's check-in starts a new shift
        ([(9, "in"), (33, "in"), (42, "out")], [(9, None, False), (33, 42, False)]),
        # forgotten check-in: a lone check-out a day later
        ([(9, "in"), (18, "out"), (42, "out")], [(9, 18, False), (None, 42, False)]),
        # still at work: open for less than MAX_SHIFT_HOURS
        ([(9, "in")], [(9, None, True)]),
    ],
)
def test_punches_pair_into_shifts(events, expected):
    from webapp.attendance.reports import build_shifts

    now = datetime(2025, 3, 3, 20, tzinfo=UTC) if expected[-1][2] else LATER
    shifts = build_shifts([_p(h, k) for h, k in events], now, timedelta(hours=16))
    assert _spans(shifts) == expected


def test_night_schedule_assigns_early_morning_punches_to_the_evening_before():
    from zoneinfo import ZoneInfo

    from webapp.attendance.reports import Schedule

    tz = ZoneInfo(SEOUL)
    night = Schedule(time(22), time(6), "12345")
    assert night.overnight
    assert night.day_of(local(SEOUL, "2025-03-05 00:15"), tz) == date(2025, 3, 4)
    assert night.day_of(local(SEOUL, "2025-03-04 21:50"), tz) == date(2025, 3, 4)
    assert night.day_of(local(SEOUL, "2025-03-04 13:59"), tz) == date(2025, 3, 3)
    assert night.day_of(local(SEOUL, "2025-03-04 14:00"), tz) == date(2025, 3, 4)
    day = Schedule(time(9), time(18), "12345")
    assert day.day_of(local(SEOUL, "2025-03-05 00:15"), tz) == date(2025, 3, 5)


# --- a hand-checked week in Seoul ----------------------------------------------------------------


@pytest.fixture
def week(tmp_path, migrated_db):
    """Ahn (09:00–18:00, the site's default) and Baek (own night schedule 22:00–06:00), Seoul."""
    app = make_app(tmp_path, migrated_db)
    ahn = add_employee(app, "Ahn", "Sales")
    baek = add_employee(
        app, "Baek", "Plant", schedule_start=time(22), schedule_end=time(6), workdays="12345"
    )
    punches(
        app,
        ahn,
        SEOUL,
        ("in", "2025-03-03 08:55"),
        ("out", "2025-03-03 18:05"),  # Mon: on time, 9 h 10 min
        ("in", "2025-03-04 09:12"),
        ("out", "2025-03-04 17:45"),  # Tue: 12 min late, 15 min early
        ("in", "2025-03-05 08:58"),
        ("in", "2025-03-05 09:01"),  # Wed: a duplicate check-in
        ("out", "2025-03-05 18:00"),
        ("out", "2025-03-05 18:03"),  # and a duplicate check-out
        ("in", "2025-03-06 09:00"),  # Thu: forgot to check out
        # Fri: absent
        ("in", "2025-03-08 10:00"),
        ("out", "2025-03-08 12:00"),  # Sat: worked on a day off
    )
    # Neither a voided nor a pending event counts.
    punch(app, ahn, "check_out", local(SEOUL, "2025-03-03 20:00"), status="voided")
    punch(app, ahn, "check_in", local(SEOUL, "2025-03-07 09:30"), status="needs_review")
    punches(
        app,
        baek,
        SEOUL,
        ("in", "2025-03-03 21:50"),
        ("out", "2025-03-04 06:10"),  # Mon night, crossing midnight: 8 h 20 min
        ("in", "2025-03-05 00:15"),
        ("out", "2025-03-05 06:00"),  # Tue night, 2 h 15 min late: 5 h 45 min
        # Wed night: absent
        ("in", "2025-03-06 22:05"),
        ("out", "2025-03-07 05:30"),  # Thu night: 5 min late, 30 min early, 7 h 25 min
    )
    return app


DAILY_HEADER = [
    "Employee",
    "Employee number",
    "Department",
    "Schedule",
    "First in",
    "Last out",
    "Hours worked",
    "Late (min)",
    "Left early (min)",
    "Status",
]
EXPECTED_DAYS = {
    "2025-03-03": [
        ["Ahn", "", "Sales", "09:00–18:00", "08:55", "18:05", "9.17", "", "", "Present"],
        ["Baek", "", "Plant", "22:00–06:00", "21:50", "06:10 (+1)", "8.33", "", "", "Present"],
    ],
    "2025-03-04": [
        ["Ahn", "", "Sales", "09:00–18:00", "09:12", "17:45", "8.55", "12", "15",
         "Late, Left early"],
        ["Baek", "", "Plant", "22:00–06:00", "00:15 (+1)", "06:00 (+1)", "5.75", "135", "", "Late"],
    ],
    "2025-03-05": [
        ["Ahn", "", "Sales", "09:00–18:00", "08:58", "18:03", "9.08", "", "", "Present"],
        ["Baek", "", "Plant", "22:00–06:00", "", "", "", "", "", "Absent"],
    ],
    "2025-03-06": [
        ["Ahn", "", "Sales", "09:00–18:00", "09:00", "", "0.00", "", "", "No check-out"],
        ["Baek", "", "Plant", "22:00–06:00", "22:05", "05:30 (+1)", "7.42", "5", "30",
         "Late, Left early"],
    ],
    "2025-03-07": [  # Ahn's check-in that morning waits for review: it does not count yet
        ["Ahn", "", "Sales", "09:00–18:00", "", "", "", "", "", "Absent, Waiting for review"],
        ["Baek", "", "Plant", "22:00–06:00", "", "", "", "", "", "Absent"],
    ],
    "2025-03-08": [
        ["Ahn", "", "Sales", "", "10:00", "12:00", "2.00", "", "", "Worked on a day off"],
        ["Baek", "", "Plant", "", "", "", "", "", "", "Day off"],
    ],
}  # fmt: skip


@pytest.mark.parametrize("day", sorted(EXPECTED_DAYS))
def test_daily_sheet_matches_the_hand_checked_week(week, day):
    client = admin_client_for(week)
    page = client.get(f"/admin/reports/daily?day={day}")
    assert page.status_code == 200
    rows = html_table(page.get_data(as_text=True))
    assert rows[0] == DAILY_HEADER
    assert rows[1:] == EXPECTED_DAYS[day]


MONTHLY_HEADER = [
    "Employee",
    "Employee number",
    "Department",
    "Working days",
    "Days present",
    "Days absent",
    "Days late",
    "Days left early",
    "Missing check-outs",
    "Hours worked",
]
# March 2025 has 21 weekdays. Ahn: 28 h 48 min over Mon-Thu and Saturday; Baek: 21 h 30 min.
EXPECTED_MONTH = [
    ["Ahn", "", "Sales", "21", "5", "17", "1", "1", "1", "28.80"],
    ["Baek", "", "Plant", "21", "3", "18", "2", "1", "0", "21.50"],
]


def test_monthly_summary_adds_up_the_week(week):
    client = admin_client_for(week)
    page = client.get("/admin/reports/monthly?month=2025-03").get_data(as_text=True)
    rows = html_table(page)
    assert rows[0] == MONTHLY_HEADER
    assert rows[1:] == EXPECTED_MONTH
    # Charts are drawn on the server, as SVG, with one bar per day of the month.
    assert page.count('<svg class="chart"') == 3
    assert "Hours per employee" in page and "Ahn: 28.80 h" in page


def _xlsx_text(value, header: str) -> str:
    if value is None:
        return ""
    if header == "Hours worked" and isinstance(value, int | float):
        return f"{value:.2f}"
    return str(value)


@pytest.mark.parametrize(
    ("page_url", "export_url"),
    [
        ("/admin/reports/daily?day=2025-03-04", "/admin/reports/daily.{fmt}?day=2025-03-04"),
        ("/admin/reports/daily?day=2025-03-06", "/admin/reports/daily.{fmt}?day=2025-03-06"),
        ("/admin/reports/monthly?month=2025-03", "/admin/reports/monthly.{fmt}?month=2025-03"),
    ],
)
def test_csv_and_xlsx_exports_equal_the_screen(week, page_url, export_url):
    client = admin_client_for(week)
    screen = html_table(client.get(page_url).get_data(as_text=True))

    csv_response = client.get(export_url.format(fmt="csv"))
    assert csv_response.mimetype == "text/csv"
    assert "attachment" in csv_response.headers["Content-Disposition"]
    assert csv_rows(csv_response.data) == screen

    xlsx_response = client.get(export_url.format(fmt="xlsx"))
    assert xlsx_response.mimetype.endswith("spreadsheetml.sheet")
    sheet = xlsx_rows(xlsx_response.data)
    header = sheet[0]
    assert [[_xlsx_text(v, h) for v, h in zip(row, header, strict=True)] for row in sheet] == screen
    # Numbers are numbers in the workbook, so payroll can sum them.
    hours_column = header.index("Hours worked")
    hours = [row[hours_column] for row in sheet[1:] if row[hours_column] is not None]
    assert hours and all(isinstance(h, int | float) for h in hours)


def test_exports_follow_the_department_filter_and_the_reader_language(week):
    client = admin_client_for(week)
    only_plant = csv_rows(
        client.get("/admin/reports/daily.csv?day=2025-03-04&department=Plant").data
    )
    assert [row[0] for row in only_plant] == ["Employee", "Baek"]
    client.get("/lang/ko")
    korean = csv_rows(client.get("/admin/reports/daily.csv?day=2025-03-07").data)
    assert korean[0][0] == "직원" and korean[1][-1] == "결근, 검토 대기"


# --- daylight saving time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "spring_hours", "autumn_hours"),
    [(NEW_YORK, 7.0, 9.0), (SEOUL, 8.0, 8.0)],
)
def test_a_night_across_a_clock_change_counts_real_hours(
    tmp_path, migrated_db, timezone, spring_hours, autumn_hours
):
    """22:00 to 06:00 on the wall clock is 7 h when New York springs forward, 9 h when it falls
    back, and always 8 h in Seoul, which keeps no daylight saving time."""
    from webapp.attendance import reports
    from webapp.attendance.records import Scope

    app = make_app(tmp_path, migrated_db, SITE_TIMEZONE=timezone)
    night = add_employee(
        app, "Nam", "Plant", schedule_start=time(22), schedule_end=time(6), workdays="1234567"
    )
    punches(
        app,
        night,
        timezone,
        ("in", "2025-03-08 22:00"),
        ("out", "2025-03-09 06:00"),
        ("in", "2025-11-01 22:00"),
        ("out", "2025-11-02 06:00"),
    )
    with app.app_context():
        ctx = reports.Context.current(now=LATER)
        spring = reports.compute_days(Scope(everyone=True), date(2025, 3, 8), date(2025, 3, 8), ctx)
        autumn = reports.compute_days(
            Scope(everyone=True), date(2025, 11, 1), date(2025, 11, 1), ctx
        )
    assert (spring[0].hours, spring[0].status) == (spring_hours, ["present"])
    assert (autumn[0].hours, autumn[0].status) == (autumn_hours, ["present"])


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        # 03:30 UTC on 10 March 2025 is 23:30 on Sunday the 9th in New York (already EDT) ...
        (NEW_YORK, {date(2025, 3, 9): ("23:30", None, ["worked_day_off"])}),
        # ... and 12:30 on Monday the 10th in Seoul: 210 minutes late.
        (SEOUL, {date(2025, 3, 10): ("12:30", 210, ["late", "left_early"])}),
    ],
)
def test_the_day_and_lateness_of_a_punch_depend_on_the_site_timezone(
    tmp_path, migrated_db, timezone, expected
):
    from zoneinfo import ZoneInfo

    from webapp.admin.tables import clock
    from webapp.attendance import reports
    from webapp.attendance.records import Scope

    app = make_app(tmp_path, migrated_db, SITE_TIMEZONE=timezone)
    person = add_employee(app, "Day", "Office")
    punch(app, person, "check_in", datetime(2025, 3, 10, 3, 30, tzinfo=UTC))
    punch(app, person, "check_out", datetime(2025, 3, 10, 4, 0, tzinfo=UTC))
    with app.app_context():
        ctx = reports.Context.current(now=LATER)
        days = reports.compute_days(Scope(everyone=True), date(2025, 3, 9), date(2025, 3, 10), ctx)
    worked = {
        d.day: (clock(d.first_in, d.day, ZoneInfo(timezone)), d.late_minutes, d.status)
        for d in days
        if d.present
    }
    assert worked == expected


def test_lateness_uses_the_summer_offset_after_the_clocks_change(tmp_path, migrated_db):
    """On Monday 10 March 2025 New York is on EDT: 09:05 local is 5 minutes late."""
    app = make_app(tmp_path, migrated_db, SITE_TIMEZONE=NEW_YORK)
    person = add_employee(app, "Early", "Office")
    punches(app, person, NEW_YORK, ("in", "2025-03-10 09:05"), ("out", "2025-03-10 18:00"))
    client = admin_client_for(app)
    rows = html_table(client.get("/admin/reports/daily?day=2025-03-10").get_data(as_text=True))
    assert rows[1][4:] == ["09:05", "18:00", "8.92", "5", "", "Late"]


# --- schedules and the edges of employment --------------------------------------------------------


def test_department_schedule_applies_and_the_employee_schedule_wins(tmp_path, migrated_db):
    from webapp.employees.services import save_department

    app = make_app(tmp_path, migrated_db)
    with app.app_context():
        save_department("Bakery", time(6), time(14), "123456")
    baker = add_employee(app, "Baker", "Bakery")
    own = add_employee(app, "Owner", "Bakery", schedule_start=time(10), schedule_end=time(19))
    for person in (baker, own):
        punches(app, person, SEOUL, ("in", "2025-03-08 06:30"), ("out", "2025-03-08 14:00"))
    client = admin_client_for(app)
    rows = html_table(client.get("/admin/reports/daily?day=2025-03-08").get_data(as_text=True))
    # A Saturday: a working day for the bakery (123456), inherited by the owner too.
    assert rows[1] == ["Baker", "", "Bakery", "06:00–14:00", "06:30", "14:00", "7.50", "30", "",
                       "Late"]  # fmt: skip
    assert rows[2] == ["Owner", "", "Bakery", "10:00–19:00", "06:30", "14:00", "7.50", "", "300",
                       "Left early"]  # fmt: skip


def test_nobody_is_absent_before_they_were_employed_or_after_they_left(tmp_path, migrated_db):
    from webapp.attendance import reports
    from webapp.attendance.records import Scope

    app = make_app(tmp_path, migrated_db)
    add_employee(app, "Newcomer", created_at=local(SEOUL, "2025-03-05 10:00"))
    add_employee(app, "Leaver", active=False, deactivated_at=local(SEOUL, "2025-03-05 17:00"))
    with app.app_context():
        ctx = reports.Context.current(now=LATER)
        days = reports.compute_days(Scope(everyone=True), date(2025, 3, 3), date(2025, 3, 7), ctx)
        lines = reports.summarize_month(days)
    seen = {(d.person.name, d.day.day): d.status for d in days}
    assert ("Newcomer", 4) not in seen and seen[("Newcomer", 5)] == ["absent"]
    assert seen[("Leaver", 4)] == ["absent"] and ("Leaver", 5) not in seen
    assert {line.person.name: line.workdays for line in lines} == {"Leaver": 2, "Newcomer": 3}


def test_today_before_the_start_is_not_in_yet_and_after_it_absent(tmp_path, migrated_db):
    from webapp.attendance import reports
    from webapp.attendance.records import Scope

    app = make_app(tmp_path, migrated_db)
    add_employee(app, "Sleepy")
    monday = date(2025, 3, 3)
    with app.app_context():
        for now, status in [
            (local(SEOUL, "2025-03-03 08:30"), "not_in_yet"),
            (local(SEOUL, "2025-03-03 09:00"), "not_in_yet"),
            (local(SEOUL, "2025-03-03 09:01"), "absent"),
        ]:
            ctx = reports.Context.current(now=now)
            assert reports.compute_days(Scope(everyone=True), monday, monday, ctx)[0].status == [
                status
            ]
        ctx = reports.Context.current(now=local(SEOUL, "2025-03-02 12:00"))
        assert reports.compute_days(Scope(everyone=True), monday, monday, ctx)[0].status == [
            "upcoming"
        ]


def test_grace_minutes_setting_forgives_a_little_lateness(tmp_path, migrated_db):
    app = make_app(tmp_path, migrated_db, LATE_GRACE_MINUTES=5)
    person = add_employee(app, "Graceful")
    punches(app, person, SEOUL, ("in", "2025-03-03 09:05"), ("in", "2025-03-04 09:06"))
    client = admin_client_for(app)
    monday = html_table(client.get("/admin/reports/daily?day=2025-03-03").get_data(as_text=True))
    tuesday = html_table(client.get("/admin/reports/daily?day=2025-03-04").get_data(as_text=True))
    assert monday[1][7] == "" and tuesday[1][7] == "6"


def test_manager_reports_hold_only_their_department(week):
    manager = client_as(week, "manager", "Plant")
    rows = html_table(manager.get("/admin/reports/daily?day=2025-03-04").get_data(as_text=True))
    assert [row[0] for row in rows[1:]] == ["Baek"]
    # The department filter cannot widen a manager's view.
    sneaky = manager.get("/admin/reports/monthly.csv?month=2025-03&department=Sales")
    assert [row[0] for row in csv_rows(sneaky.data)] == ["Employee", "Baek"]
    nobody = client_as(week, "manager", None)
    page = nobody.get("/admin/reports/daily?day=2025-03-04").get_data(as_text=True)
    assert html_table(page)[1:] == [["Nobody to show."]]
    assert "No department is assigned to your account yet" in page


def test_exported_names_are_never_run_as_spreadsheet_formulas(tmp_path, migrated_db):
    from io import BytesIO

    from openpyxl import load_workbook

    app = make_app(tmp_path, migrated_db)
    person = add_employee(app, '=HYPERLINK("http://evil.example","Click")', "Sales")
    punches(app, person, SEOUL, ("in", "2025-03-03 09:00"), ("out", "2025-03-03 18:00"))
    client = admin_client_for(app)
    rows = csv_rows(client.get("/admin/reports/daily.csv?day=2025-03-03").data)
    assert rows[1][0] == '\'=HYPERLINK("http://evil.example","Click")'
    cell = load_workbook(BytesIO(client.get("/admin/reports/daily.xlsx?day=2025-03-03").data))
    cell = cell.active["A2"]
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")
