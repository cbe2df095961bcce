"""Attendance records: who may see which, the review rule, listing and corrections.

Nothing here ever deletes an event: a wrong one is voided, a missed one is added by hand, and each
change is written to the audit log with the state before and after and the reason given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true
from sqlalchemy.orm import contains_eager

from webapp import audit
from webapp.attendance.models import AttendanceEvent, EventKind, EventStatus, Kiosk
from webapp.audit import AuditEntry
from webapp.auth.models import Role
from webapp.db import utcnow
from webapp.employees.models import Employee
from webapp.errors import AppError
from webapp.extensions import db

MAX_REASON = 500
PAGE_SIZE = 50


def site_timezone() -> ZoneInfo:
    """The timezone days and times are shown and counted in."""
    return ZoneInfo(current_app.config["SITE_TIMEZONE"])


def local_to_utc(day: date, clock: time, tz: ZoneInfo | None = None) -> datetime:
    """A site-local wall-clock time as UTC; refuses a time the clocks skipped (DST)."""
    tz = tz or site_timezone()
    local = datetime.combine(day, clock, tzinfo=tz)
    moment = local.astimezone(UTC)
    if moment.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise AppError(
            f"{day.isoformat()} {clock.strftime('%H:%M')} does not exist in {tz.key}: "
            "the clocks moved forward then.",
            "time_skipped",
        )
    return moment


def day_start_utc(day: date, tz: ZoneInfo | None = None) -> datetime:
    """The UTC moment a site-local day begins (midnight may be skipped by DST: then 01:00)."""
    tz = tz or site_timezone()
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


# --- who sees what ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The employees a user may see: all (admins) or one department (managers)."""

    department: str | None = None  # None with everyone=True: every department
    everyone: bool = False

    @classmethod
    def for_user(cls, user) -> Scope:
        """Admins see everyone; a manager sees their department (nobody if none is set)."""
        if getattr(user, "role", None) == Role.ADMIN:
            return cls(everyone=True)
        return cls(department=getattr(user, "department", None))

    def employee_clause(self) -> ColumnElement[bool]:
        """A WHERE clause on Employee for this scope."""
        if self.everyone:
            return true()
        if not self.department:
            return false()
        return Employee.department == self.department

    def allows(self, employee: Employee) -> bool:
        """True when the employee is in scope."""
        return self.everyone or (bool(self.department) and employee.department == self.department)


# --- the review rule (called by the kiosk) -------------------------------------------------------


def is_rejected(similarity: float | None) -> bool:
    """True when a match is too weak to record at all (below REVIEW_REJECT_THRESHOLD)."""
    return similarity is not None and similarity < current_app.config["REVIEW_REJECT_THRESHOLD"]


def initial_status(similarity: float | None, flagged: bool = False) -> EventStatus:
    """The status a kiosk event starts with.

    OK at or above REVIEW_ACCEPT_THRESHOLD; NEEDS_REVIEW when flagged by the kiosk, when the
    similarity is unknown or lies between the reject and accept thresholds; VOIDED below the
    reject threshold (callers should not record such a face; if they do, it never counts).
    """
    if is_rejected(similarity):
        return EventStatus.VOIDED
    if flagged or similarity is None:
        return EventStatus.NEEDS_REVIEW
    if similarity < current_app.config["REVIEW_ACCEPT_THRESHOLD"]:
        return EventStatus.NEEDS_REVIEW
    return EventStatus.OK


def review_reason(event: AttendanceEvent) -> str | None:
    """Why an event waits for review: the kiosk's flag, else the weak similarity (a code)."""
    if event.status != EventStatus.NEEDS_REVIEW:
        return None
    if event.flag_reason:
        return event.flag_reason
    if event.similarity is None:
        return "no_similarity"
    return "low_similarity"


# --- listing -------------------------------------------------------------------------------------

SORTS = {
    "time": AttendanceEvent.occurred_at,
    "employee": Employee.name,
    "department": Employee.department,
    "kind": AttendanceEvent.kind,
    "status": AttendanceEvent.status,
    "similarity": AttendanceEvent.similarity,
    "kiosk": Kiosk.name,
}
MANUAL_KIOSK = "manual"


@dataclass
class RecordFilter:
    """What the records page asks for; every field is optional."""

    start: date | None = None  # site-local, inclusive
    end: date | None = None  # site-local, inclusive
    employee_id: int | None = None
    department: str | None = None
    kiosk: str | None = None  # a kiosk id, or "manual" for events added by hand
    kind: EventKind | None = None
    status: EventStatus | None = None
    needs_review: bool = False
    q: str = ""
    sort: str = "time"
    descending: bool = True
    page: int = 1


@dataclass
class RecordPage:
    """One page of records and what the pager needs."""

    events: list[AttendanceEvent]
    total: int
    page: int
    page_size: int = PAGE_SIZE
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        self.pages = max(1, math.ceil(self.total / self.page_size))


def records_query(filters: RecordFilter, scope: Scope) -> Select:
    """SELECT the events matching `filters` within `scope`, sorted (no paging)."""
    tz = site_timezone()
    query = (
        select(AttendanceEvent)
        .join(AttendanceEvent.employee)
        .outerjoin(AttendanceEvent.kiosk)
        .options(contains_eager(AttendanceEvent.employee), contains_eager(AttendanceEvent.kiosk))
        .where(scope.employee_clause())
    )
    if filters.start:
        query = query.where(AttendanceEvent.occurred_at >= day_start_utc(filters.start, tz))
    if filters.end:
        next_day = filters.end + timedelta(days=1)
        query = query.where(AttendanceEvent.occurred_at < day_start_utc(next_day, tz))
    if filters.employee_id:
        query = query.where(AttendanceEvent.employee_id == filters.employee_id)
    if filters.department:
        query = query.where(Employee.department == filters.department)
    if filters.kiosk == MANUAL_KIOSK:
        query = query.where(AttendanceEvent.kiosk_id.is_(None))
    elif filters.kiosk and filters.kiosk.isdigit():
        query = query.where(AttendanceEvent.kiosk_id == int(filters.kiosk))
    if filters.kind:
        query = query.where(AttendanceEvent.kind == filters.kind)
    if filters.needs_review:
        query = query.where(AttendanceEvent.status == EventStatus.NEEDS_REVIEW)
    elif filters.status:
        query = query.where(AttendanceEvent.status == filters.status)
    if filters.q.strip():
        needle = filters.q.strip()
        query = query.where(
            or_(
                Employee.name.icontains(needle, autoescape=True),
                Employee.employee_no.icontains(needle, autoescape=True),
            )
        )
    column = SORTS.get(filters.sort, SORTS["time"])
    ordered = column.desc() if filters.descending else column.asc()
    tiebreak = AttendanceEvent.id.desc() if filters.descending else AttendanceEvent.id.asc()
    if column is AttendanceEvent.occurred_at:
        return query.order_by(ordered, tiebreak)
    return query.order_by(ordered, AttendanceEvent.occurred_at.desc(), tiebreak)


def list_records(filters: RecordFilter, scope: Scope) -> RecordPage:
    """One page of the events matching `filters` within `scope`."""
    query = records_query(filters, scope)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, filters.page), pages)
    events = db.session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    return RecordPage(list(events), total, page)


def pending_review_count(scope: Scope) -> int:
    """How many events in scope wait for review."""
    return db.session.scalar(
        select(func.count(AttendanceEvent.id))
        .join(AttendanceEvent.employee)
        .where(AttendanceEvent.status == EventStatus.NEEDS_REVIEW, scope.employee_clause())
    )


def review_queue(scope: Scope, limit: int = 200) -> list[AttendanceEvent]:
    """The events waiting for review, oldest first."""
    return list(
        db.session.scalars(
            select(AttendanceEvent)
            .join(AttendanceEvent.employee)
            .where(AttendanceEvent.status == EventStatus.NEEDS_REVIEW, scope.employee_clause())
            .order_by(AttendanceEvent.occurred_at, AttendanceEvent.id)
            .limit(limit)
        )
    )


# --- corrections ---------------------------------------------------------------------------------


def event_snapshot(event: AttendanceEvent) -> dict:
    """An event's facts as the audit log stores them."""
    return {
        "employee_id": event.employee_id,
        "kind": str(event.kind),
        "status": str(event.status),
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(),
        "kiosk_id": event.kiosk_id,
    }


def _reason(reason: str | None, required: bool = True) -> str | None:
    reason = (reason or "").strip()
    if required and not reason:
        raise AppError("Give a reason for the change.", "reason_required")
    if len(reason) > MAX_REASON:
        raise AppError(f"Keep the reason under {MAX_REASON} characters.", "reason_too_long")
    return reason or None


def add_missed_punch(
    employee: Employee, kind: EventKind, occurred_at: datetime, reason: str, actor=None
) -> AttendanceEvent:
    """Add a check-in or check-out someone forgot, with the reason; it counts at once."""
    reason = _reason(reason)
    if occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    if occurred_at > utcnow() + timedelta(minutes=1):
        raise AppError("A missed punch cannot be in the future.", "future_punch")
    event = AttendanceEvent(
        employee_id=employee.id,
        kiosk_id=None,
        kind=EventKind(kind),
        status=EventStatus.OK,
        occurred_at=occurred_at,
        created_by_id=getattr(actor, "id", None),
        correction_reason=reason,
    )
    db.session.add(event)
    db.session.flush()
    audit.record(
        "attendance.add",
        "attendance_event",
        event.id,
        actor,
        before=None,
        after={**event_snapshot(event), "reason": reason},
    )
    db.session.commit()
    return event


def _change_status(
    event: AttendanceEvent,
    action: str,
    new_status: EventStatus,
    allowed_from: set[EventStatus],
    reason: str | None,
    actor,
) -> AttendanceEvent:
    if event.status not in allowed_from:
        raise AppError(
            f"This record is {event.status.value.replace('_', ' ')}; it cannot be changed so.",
            "wrong_status",
            409,
        )
    before = event_snapshot(event)
    event.status = new_status
    event.reviewed_at = utcnow()
    event.reviewed_by_id = getattr(actor, "id", None)
    event.correction_reason = reason
    audit.record(
        action,
        "attendance_event",
        event.id,
        actor,
        before=before,
        after={**event_snapshot(event), "reason": reason},
    )
    db.session.commit()
    return event


def void_event(event: AttendanceEvent, reason: str, actor=None) -> AttendanceEvent:
    """Void a wrong event (kept, never counted again) with the reason."""
    return _change_status(
        event,
        "attendance.void",
        EventStatus.VOIDED,
        {EventStatus.OK, EventStatus.NEEDS_REVIEW},
        _reason(reason),
        actor,
    )


def confirm_event(event: AttendanceEvent, actor=None, reason: str | None = None) -> AttendanceEvent:
    """Confirm an event that waited for review; it counts from now on."""
    return _change_status(
        event,
        "attendance.confirm",
        EventStatus.OK,
        {EventStatus.NEEDS_REVIEW},
        _reason(reason, required=False),
        actor,
    )


def restore_event(event: AttendanceEvent, reason: str, actor=None) -> AttendanceEvent:
    """Undo a void: the event counts again."""
    return _change_status(
        event, "attendance.restore", EventStatus.OK, {EventStatus.VOIDED}, _reason(reason), actor
    )


def event_history(event: AttendanceEvent) -> list[AuditEntry]:
    """Every audited change of an event, oldest first."""
    return list(
        db.session.scalars(
            select(AuditEntry)
            .where(
                and_(
                    AuditEntry.target_type == "attendance_event",
                    AuditEntry.target_id == event.id,
                )
            )
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    )
