"""Kiosks and the attendance events they record."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db import UTCDateTime, enum_column, utcnow
from webapp.employees.models import Employee
from webapp.extensions import db


class Kiosk(db.Model):
    """A registered check-in device; it authenticates with a token stored only as a hash."""

    __tablename__ = "kiosks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    gesture_model_id: Mapped[int | None] = mapped_column(
        ForeignKey("gesture_models.id", ondelete="SET NULL")
    )  # None: the built-in gesture rules
    frames_day: Mapped[date | None] = mapped_column(Date)  # the site day frames_today counts
    frames_today: Mapped[int] = mapped_column(default=0, server_default="0")  # frames processed

    @property
    def active(self) -> bool:
        """True until the kiosk is revoked."""
        return self.revoked_at is None


class EventKind(enum.StrEnum):
    """Which way the person went."""

    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"


class EventStatus(enum.StrEnum):
    """Whether an event counts."""

    OK = "ok"
    NEEDS_REVIEW = "needs_review"
    VOIDED = "voided"


class AttendanceEvent(db.Model):
    """One check-in or check-out; never hard-deleted, only voided."""

    __tablename__ = "attendance_events"
    __table_args__ = (
        Index("ix_attendance_events_employee_time", "employee_id", "occurred_at"),
        Index("ix_attendance_events_occurred_at", "occurred_at"),
        Index("ix_attendance_events_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"))
    kiosk_id: Mapped[int | None] = mapped_column(ForeignKey("kiosks.id"))  # None: added by an admin
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind))
    status: Mapped[EventStatus] = mapped_column(enum_column(EventStatus), default=EventStatus.OK)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    similarity: Mapped[float | None]  # recognizer's cosine to the person's centroid
    gesture: Mapped[str | None] = mapped_column(String(20))  # the confirming gesture
    proof_photo: Mapped[str | None] = mapped_column(String(255))  # relative to MEDIA_DIR
    idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Corrections and review (webapp/attendance/records.py); every change is also audited.
    flag_reason: Mapped[str | None] = mapped_column(String(80))  # why the kiosk asked for review
    created_by_id: Mapped[int | None] = mapped_column(  # the admin who added a missed punch
        ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # last confirm/void
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    correction_reason: Mapped[str | None] = mapped_column(String(500))  # reason of the last change
    proof_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # by retention

    employee: Mapped[Employee] = relationship()
    kiosk: Mapped[Kiosk | None] = relationship()
