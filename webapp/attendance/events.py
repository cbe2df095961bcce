"""Recording attendance events: direction from the day's last event, no duplicates, idempotent."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.attendance.models import AttendanceEvent, EventKind, EventStatus
from webapp.attendance.records import initial_status
from webapp.extensions import db


def site_timezone() -> ZoneInfo:
    """The timezone attendance days are counted in."""
    return ZoneInfo(current_app.config["SITE_TIMEZONE"])


def day_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """Start and end (UTC-aware) of the site-local day containing `moment`."""
    local = moment.astimezone(site_timezone())
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def last_event_today(employee_id: int, now: datetime) -> AttendanceEvent | None:
    """The person's latest event that counts, earlier on the same site-local day."""
    start, end = day_bounds(now)
    return db.session.scalar(
        select(AttendanceEvent)
        .where(
            AttendanceEvent.employee_id == employee_id,
            AttendanceEvent.status != EventStatus.VOIDED,
            AttendanceEvent.occurred_at >= start,
            AttendanceEvent.occurred_at < end,
        )
        .order_by(AttendanceEvent.occurred_at.desc(), AttendanceEvent.id.desc())
        .limit(1)
    )


def next_direction(employee_id: int, now: datetime) -> EventKind:
    """Check in unless the day's last event was a check-in."""
    last = last_event_today(employee_id, now)
    return EventKind.CHECK_OUT if last and last.kind == EventKind.CHECK_IN else EventKind.CHECK_IN


def record_event(
    employee_id: int,
    kind: EventKind,
    occurred_at: datetime,
    *,
    kiosk_id: int | None = None,
    similarity: float | None = None,
    gesture: str | None = None,
    proof_photo: str | None = None,
    idempotency_key: str | None = None,
    flag_reason: str | None = None,
    note: str | None = None,
) -> tuple[AttendanceEvent, bool]:
    """Record an event; returns (event, created). A retry or a duplicate returns the first one."""
    if idempotency_key:
        existing = db.session.scalar(
            select(AttendanceEvent).where(AttendanceEvent.idempotency_key == idempotency_key)
        )
        if existing:
            return existing, False
    window = timedelta(seconds=current_app.config["DUPLICATE_WINDOW_SECONDS"])
    duplicate = db.session.scalar(
        select(AttendanceEvent).where(
            AttendanceEvent.employee_id == employee_id,
            AttendanceEvent.kind == kind,
            AttendanceEvent.status != EventStatus.VOIDED,
            AttendanceEvent.occurred_at > occurred_at - window,
            AttendanceEvent.occurred_at <= occurred_at + window,
        )
    )
    if duplicate:
        return duplicate, False
    event = AttendanceEvent(
        employee_id=employee_id,
        kiosk_id=kiosk_id,
        kind=kind,
        status=initial_status(similarity, flagged=flag_reason is not None),
        flag_reason=flag_reason,
        occurred_at=occurred_at,
        similarity=similarity,
        gesture=gesture,
        proof_photo=proof_photo,
        idempotency_key=idempotency_key,
        note=note,
    )
    db.session.add(event)
    try:
        db.session.commit()
    except IntegrityError:
        # Another worker recorded the same submission a moment ago.
        db.session.rollback()
        existing = db.session.scalar(
            select(AttendanceEvent).where(AttendanceEvent.idempotency_key == idempotency_key)
        )
        if existing is None:
            raise
        return existing, False
    return event, True
