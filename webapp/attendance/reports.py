"""Attendance arithmetic: shifts from punches, days against schedules, daily and monthly reports.

Rules, as a person reading a time sheet expects them:
- Only events with status OK count (pending review and voided ones do not).
- A check-in opens a shift and the next check-out closes it, even after midnight: the shift
  belongs to the day it began. A repeated check-in while a shift is open is a duplicate (the first
  counts); a repeated check-out right after a shift is a duplicate (the last counts).
- A check-in with no check-out within MAX_SHIFT_HOURS is a forgotten check-out: the day shows
  its first-in, no hours for that shift, and "No check-out". Until then the person is "At work".
- Hours worked are the sum of the day's closed shifts, measured in real (UTC) time, so a night
  that crosses a daylight-saving change has one hour more or less.
- Late and left-early compare with the schedule of the day (employee's, else department's, else
  the site's), in whole minutes; a schedule whose end is before its start ends the next day, and
  punches in the early part of such a night belong to the evening before.
- Absent: a working day of the schedule, while employed, with no shift at all.
All times are computed in UTC and shown in the site's timezone.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from webapp.attendance.models import AttendanceEvent, EventKind, EventStatus
from webapp.attendance.records import Scope, day_start_utc, site_timezone
from webapp.db import utcnow
from webapp.employees.models import Department, Employee
from webapp.extensions import db

# --- schedules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """A working day: start and end on the site's wall clock, and the ISO weekdays worked."""

    start: time
    end: time
    workdays: str = "12345"
    grace_minutes: int = 0

    @property
    def overnight(self) -> bool:
        """True when the working day ends after midnight."""
        return self.end <= self.start

    def is_workday(self, day: date) -> bool:
        """True when `day` is a working day."""
        return str(day.isoweekday()) in self.workdays

    def window(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The scheduled start and end of `day`, in UTC."""
        end_day = day + timedelta(days=1) if self.overnight else day
        return (
            datetime.combine(day, self.start, tzinfo=tz).astimezone(UTC),
            datetime.combine(end_day, self.end, tzinfo=tz).astimezone(UTC),
        )

    def day_of(self, moment: datetime, tz: ZoneInfo) -> date:
        """The schedule day a punch at `moment` belongs to."""
        local = moment.astimezone(tz)
        if self.overnight:
            # Night work: from the end of the night until halfway to the next start, a punch
            # still belongs to the night that began the evening before.
            end = self.end.hour * 60 + self.end.minute
            start = self.start.hour * 60 + self.start.minute
            cutoff = end + (start - end) / 2
            if local.hour * 60 + local.minute < cutoff:
                return local.date() - timedelta(days=1)
        return local.date()

    def label(self) -> str:
        """Like "09:00–18:00"."""
        return f"{self.start.strftime('%H:%M')}–{self.end.strftime('%H:%M')}"


def site_schedule() -> Schedule:
    """The site's default schedule from the settings."""
    config = current_app.config
    return Schedule(
        config["WORK_DAY_START"],
        config["WORK_DAY_END"],
        config["WORK_DAYS"],
        int(config["LATE_GRACE_MINUTES"]),
    )


def resolve_schedule(
    employee: Employee, departments: dict[str, Department], default: Schedule
) -> Schedule:
    """The employee's own schedule, else their department's, else the site's (field by field for
    the working days)."""
    department = departments.get(employee.department or "")
    start, end, workdays = default.start, default.end, default.workdays
    if department is not None:
        if department.schedule_start is not None and department.schedule_end is not None:
            start, end = department.schedule_start, department.schedule_end
        workdays = department.workdays or workdays
    if employee.schedule_start is not None and employee.schedule_end is not None:
        start, end = employee.schedule_start, employee.schedule_end
    workdays = employee.workdays or workdays
    return Schedule(start, end, workdays, default.grace_minutes)


# --- shifts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Punch:
    """A counted event: when (UTC) and which way."""

    at: datetime
    kind: EventKind


@dataclass
class Shift:
    """A stretch at work: check-in to check-out (either may be missing)."""

    start: datetime | None
    end: datetime | None = None
    in_progress: bool = False  # open, and not yet MAX_SHIFT_HOURS old

    @property
    def complete(self) -> bool:
        """True when both ends are known."""
        return self.start is not None and self.end is not None

    @property
    def worked(self) -> timedelta:
        """Its length in real time (zero while incomplete)."""
        return self.end - self.start if self.complete else timedelta(0)

    @property
    def anchor(self) -> datetime:
        """The moment that decides its day: the check-in, else the check-out."""
        return self.start if self.start is not None else self.end


def build_shifts(punches: list[Punch], now: datetime, max_shift: timedelta) -> list[Shift]:
    """Pair a person's punches into shifts (see the module's rules)."""
    shifts: list[Shift] = []
    open_shift: Shift | None = None
    last_closed: Shift | None = None
    for punch in sorted(punches, key=lambda p: p.at):
        if punch.kind == EventKind.CHECK_IN:
            if open_shift is not None:
                if punch.at - open_shift.start <= max_shift:
                    continue  # a duplicate check-in: the first one counts
                shifts.append(open_shift)  # the check-out was forgotten
            open_shift = Shift(start=punch.at)
            last_closed = None
            continue
        if open_shift is not None and punch.at - open_shift.start <= max_shift:
            open_shift.end = punch.at
            shifts.append(open_shift)
            last_closed, open_shift = open_shift, None
        elif (
            open_shift is None
            and last_closed is not None
            and punch.at - last_closed.anchor <= max_shift
        ):
            last_closed.end = punch.at  # a duplicate check-out: the last one counts
        else:
            if open_shift is not None:
                shifts.append(open_shift)
                open_shift = None
            last_closed = Shift(start=None, end=punch.at)  # the check-in was forgotten
            shifts.append(last_closed)
    if open_shift is not None:
        open_shift.in_progress = now - open_shift.start <= max_shift
        shifts.append(open_shift)
    return shifts


# --- days ----------------------------------------------------------------------------------------

# Status codes of a day, in the order they are shown; the page and the exports translate them.
PRESENT, LATE, LEFT_EARLY, NO_CHECK_OUT, NO_CHECK_IN, AT_WORK = (
    "present",
    "late",
    "left_early",
    "no_check_out",
    "no_check_in",
    "at_work",
)
ABSENT, NOT_IN_YET, DAY_OFF, WORKED_DAY_OFF, UPCOMING, NOT_EMPLOYED = (
    "absent",
    "not_in_yet",
    "day_off",
    "worked_day_off",
    "upcoming",
    "not_employed",
)
PENDING_REVIEW = "pending_review"  # added to any of the above: a punch that day awaits review


@dataclass(frozen=True)
class Person:
    """The employee facts a report shows (detached from the session)."""

    id: int
    name: str
    employee_no: str | None
    department: str | None
    employed_from: date  # site-local date the record was created
    employed_until: date | None  # last site-local day before deactivation


@dataclass
class Day:
    """One person's day against their schedule."""

    person: Person
    day: date
    schedule: Schedule
    shifts: list[Shift] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    first_in: datetime | None = None  # UTC
    last_out: datetime | None = None  # UTC
    worked: timedelta = timedelta(0)
    late_minutes: int | None = None
    early_minutes: int | None = None

    @property
    def hours(self) -> float:
        """Hours worked, rounded to hundredths (what the sheet shows)."""
        return round(self.worked.total_seconds() / 3600, 2)

    @property
    def present(self) -> bool:
        """True when the person punched at all that day."""
        return bool(self.shifts)

    @property
    def absent(self) -> bool:
        """True when the person was expected and did not come."""
        return ABSENT in self.status

    @property
    def missing_check_outs(self) -> int:
        """Shifts whose check-out was forgotten."""
        return sum(1 for s in self.shifts if s.start and not s.end and not s.in_progress)


def whole_minutes(delta: timedelta) -> int:
    """Whole minutes in a span (09:00:59 is 0 minutes after 09:00)."""
    return int(delta.total_seconds() // 60)


def evaluate_day(
    person: Person, day: date, schedule: Schedule, shifts: list[Shift], now: datetime, tz: ZoneInfo
) -> Day:
    """Work out one day's first-in, last-out, hours, lateness and status."""
    record = Day(person, day, schedule, shifts)
    workday = schedule.is_workday(day)
    employed = person.employed_from <= day and (
        person.employed_until is None or day <= person.employed_until
    )
    start, end = schedule.window(day, tz)
    if not shifts:
        if not employed:
            record.status = [NOT_EMPLOYED]
        elif not workday:
            record.status = [DAY_OFF]
        elif now < start:
            record.status = [UPCOMING if now < day_start_utc(day, tz) else NOT_IN_YET]
        elif now < start + timedelta(minutes=schedule.grace_minutes + 1):
            record.status = [NOT_IN_YET]
        else:
            record.status = [ABSENT]
        return record

    starts = [s.start for s in shifts if s.start is not None]
    ends = [s.end for s in shifts if s.end is not None]
    record.first_in = min(starts) if starts else None
    record.last_out = max(ends) if ends else None
    record.worked = sum((s.worked for s in shifts), timedelta(0))
    missing_out = any(s.start and not s.end and not s.in_progress for s in shifts)
    in_progress = any(s.in_progress for s in shifts)
    status: list[str] = []
    if workday and record.first_in is not None:
        late = whole_minutes(record.first_in - start)
        if late > schedule.grace_minutes:
            record.late_minutes = late
            status.append(LATE)
    if workday and record.last_out is not None and not missing_out and not in_progress:
        early = whole_minutes(end - record.last_out)
        if early > 0:
            record.early_minutes = early
            status.append(LEFT_EARLY)
    if missing_out:
        status.append(NO_CHECK_OUT)
    if any(s.start is None for s in shifts):
        status.append(NO_CHECK_IN)
    if in_progress:
        status.append(AT_WORK)
    if not status:
        status.append(PRESENT if workday else WORKED_DAY_OFF)
    record.status = status
    return record


# --- loading -------------------------------------------------------------------------------------


@dataclass
class Context:
    """What every report needs: timezone, now, the site schedule, departments and limits."""

    tz: ZoneInfo
    now: datetime
    default: Schedule
    departments: dict[str, Department]
    max_shift: timedelta

    @classmethod
    def current(cls, now: datetime | None = None) -> Context:
        """The context of the running app."""
        departments = {d.name: d for d in db.session.scalars(select(Department))}
        return cls(
            tz=site_timezone(),
            now=now or utcnow(),
            default=site_schedule(),
            departments=departments,
            max_shift=timedelta(hours=int(current_app.config["MAX_SHIFT_HOURS"])),
        )

    def today(self) -> date:
        """The site-local date now."""
        return self.now.astimezone(self.tz).date()


def _person(employee: Employee, tz: ZoneInfo) -> Person:
    until = None
    if employee.deactivated_at is not None:
        until = employee.deactivated_at.astimezone(tz).date() - timedelta(days=1)
    elif not employee.active:
        until = employee.created_at.astimezone(tz).date() - timedelta(days=1)
    return Person(
        employee.id,
        employee.name,
        employee.employee_no,
        employee.department,
        employee.created_at.astimezone(tz).date(),
        until,
    )


def compute_days(
    scope: Scope,
    first: date,
    last: date,
    ctx: Context,
    department: str | None = None,
    employee_id: int | None = None,
) -> list[Day]:
    """Every in-scope person's days from `first` to `last` (site-local, inclusive), by name then
    day; people not employed then and without punches are left out."""
    tz = ctx.tz
    # Punches from a day before to a day after: night shifts cross the edges of the range.
    since = day_start_utc(first - timedelta(days=1), tz) - ctx.max_shift
    until = day_start_utc(last + timedelta(days=2), tz)
    people_query = select(Employee).where(scope.employee_clause())
    if department:
        people_query = people_query.where(Employee.department == department)
    if employee_id:
        people_query = people_query.where(Employee.id == employee_id)
    employees = list(db.session.scalars(people_query.order_by(Employee.name, Employee.id)))
    punches: dict[int, list[Punch]] = defaultdict(list)
    pending: dict[int, list[datetime]] = defaultdict(list)
    if employees:
        rows = db.session.execute(
            select(
                AttendanceEvent.employee_id,
                AttendanceEvent.occurred_at,
                AttendanceEvent.kind,
                AttendanceEvent.status,
            )
            .where(
                AttendanceEvent.employee_id.in_([e.id for e in employees]),
                AttendanceEvent.status.in_([EventStatus.OK, EventStatus.NEEDS_REVIEW]),
                AttendanceEvent.occurred_at >= since,
                AttendanceEvent.occurred_at < until,
            )
            .order_by(AttendanceEvent.occurred_at)
        )
        for employee_id_, at, kind, status in rows:
            if status == EventStatus.OK:
                punches[employee_id_].append(Punch(at, kind))
            else:
                pending[employee_id_].append(at)

    days: list[Day] = []
    span = (last - first).days + 1
    for employee in employees:
        person = _person(employee, tz)
        schedule = resolve_schedule(employee, ctx.departments, ctx.default)
        by_day: dict[date, list[Shift]] = defaultdict(list)
        for shift in build_shifts(punches[employee.id], ctx.now, ctx.max_shift):
            by_day[schedule.day_of(shift.anchor, tz)].append(shift)
        waiting = {schedule.day_of(at, tz) for at in pending[employee.id]}
        for offset in range(span):
            day = first + timedelta(days=offset)
            record = evaluate_day(person, day, schedule, by_day.get(day, []), ctx.now, tz)
            if day in waiting:
                record.status.append(PENDING_REVIEW)
            if record.status != [NOT_EMPLOYED]:
                days.append(record)
    return days


# --- reports -------------------------------------------------------------------------------------


@dataclass
class MonthLine:
    """One person's month."""

    person: Person
    workdays: int = 0  # scheduled working days while employed, up to today
    present: int = 0
    absent: int = 0
    late: int = 0
    left_early: int = 0
    missing_check_outs: int = 0
    worked: timedelta = timedelta(0)

    @property
    def hours(self) -> float:
        """Hours worked in the month, rounded to hundredths."""
        return round(self.worked.total_seconds() / 3600, 2)


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """The first and last day of a month."""
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def summarize_month(days: list[Day]) -> list[MonthLine]:
    """Sum days into one line per person, in the order the days came."""
    lines: dict[int, MonthLine] = {}
    for record in days:
        line = lines.setdefault(record.person.id, MonthLine(record.person))
        expected = record.schedule.is_workday(record.day) and UPCOMING not in record.status
        if expected and NOT_IN_YET not in record.status:
            line.workdays += 1
        line.present += record.present
        line.absent += record.absent
        line.late += LATE in record.status
        line.left_early += LEFT_EARLY in record.status
        line.missing_check_outs += record.missing_check_outs
        line.worked += record.worked
    return list(lines.values())


@dataclass
class Today:
    """The dashboard's numbers."""

    days: list[Day]

    def with_status(self, *codes: str) -> list[Day]:
        """The days that have any of these status codes."""
        return [d for d in self.days if any(code in d.status for code in codes)]

    @property
    def present(self) -> list[Day]:
        """People who came in today."""
        return [d for d in self.days if d.present]

    @property
    def expected(self) -> list[Day]:
        """People scheduled to work today."""
        return [d for d in self.days if d.schedule.is_workday(d.day)]


def today_at_a_glance(scope: Scope, ctx: Context) -> Today:
    """Everyone in scope, today."""
    today = ctx.today()
    return Today(compute_days(scope, today, today, ctx))


def arrivals_per_day(days: list[Day], first: date, last: date) -> list[tuple[date, int]]:
    """How many people came in on each day."""
    counts: dict[date, int] = defaultdict(int)
    for record in days:
        if record.first_in is not None:
            counts[record.day] += 1
    span = (last - first).days + 1
    return [(first + timedelta(days=i), counts[first + timedelta(days=i)]) for i in range(span)]


def arrival_histogram(
    days: list[Day], tz: ZoneInfo, bucket_minutes: int = 15
) -> list[tuple[str, int]]:
    """First check-ins counted in buckets of site-local time of day ("08:45", count)."""
    minutes = [
        d.first_in.astimezone(tz).hour * 60 + d.first_in.astimezone(tz).minute
        for d in days
        if d.first_in is not None
    ]
    if not minutes:
        return []
    low = min(minutes) // bucket_minutes
    high = max(minutes) // bucket_minutes
    while high - low > 48:  # keep it readable: wider buckets for a wide spread
        bucket_minutes *= 2
        low, high = min(minutes) // bucket_minutes, max(minutes) // bucket_minutes
    counts = defaultdict(int)
    for value in minutes:
        counts[value // bucket_minutes] += 1
    return [
        (f"{b * bucket_minutes // 60:02d}:{b * bucket_minutes % 60:02d}", counts[b])
        for b in range(low, high + 1)
    ]


def employees_in_scope(scope: Scope) -> list[Employee]:
    """The employees a user may pick in filters (inactive ones too: their records stay)."""
    query = select(Employee).where(scope.employee_clause())
    return list(db.session.scalars(query.order_by(Employee.name, Employee.id)))
