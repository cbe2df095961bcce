"""Employees and their biometric enrollment: photos and the face templates made from them."""

from __future__ import annotations

from datetime import datetime, time

import numpy as np
from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db import UTCDateTime, utcnow
from webapp.extensions import db


class Employee(db.Model):
    """A person who checks in at a kiosk."""

    __tablename__ = "employees"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    employee_no: Mapped[str | None] = mapped_column(String(40), unique=True)  # payroll number
    department: Mapped[str | None] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the employee was deactivated; retention deletes their biometrics some days later.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The employee's own schedule (site-local wall clock); None: the department's, then the site's.
    schedule_start: Mapped[time | None] = mapped_column(Time())
    schedule_end: Mapped[time | None] = mapped_column(Time())  # before start: ends the next day
    workdays: Mapped[str | None] = mapped_column(String(7))  # ISO weekdays, "12345" = Mon-Fri

    photos: Mapped[list[EnrollmentPhoto]] = relationship(
        back_populates="employee", cascade="all, delete-orphan", order_by="EnrollmentPhoto.id"
    )
    templates: Mapped[list[FaceTemplate]] = relationship(
        back_populates="employee", cascade="all, delete-orphan"
    )
    consents: Mapped[list[BiometricConsent]] = relationship(
        back_populates="employee", order_by="BiometricConsent.id"
    )

    @property
    def consent(self) -> BiometricConsent | None:
        """The consent in force (given and not withdrawn), if any."""
        for consent in reversed(self.consents):
            if consent.withdrawn_at is None:
                return consent
        return None


class Department(db.Model):
    """A department's work schedule; employees name their department in `Employee.department`."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)  # as in Employee.department
    schedule_start: Mapped[time | None] = mapped_column(Time())  # None: the site's default
    schedule_end: Mapped[time | None] = mapped_column(Time())
    workdays: Mapped[str | None] = mapped_column(String(7))  # ISO weekdays, "12345" = Mon-Fri
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BiometricConsent(db.Model):
    """An employee's consent to face enrollment: who recorded it, when, and which text."""

    __tablename__ = "biometric_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id"), index=True)
    text_version: Mapped[str] = mapped_column(String(20))  # key of the consent text agreed to
    given_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_by_label: Mapped[str] = mapped_column(String(255))  # e-mail or "cli"
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_by_label: Mapped[str | None] = mapped_column(String(255))

    employee: Mapped[Employee] = relationship(back_populates="consents")


class EnrollmentPhoto(db.Model):
    """An uploaded photo an employee was enrolled from; the file lives under MEDIA_DIR."""

    __tablename__ = "enrollment_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(255))  # relative to MEDIA_DIR
    original_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    face_box: Mapped[list[int]] = mapped_column(JSON)  # [x, y, w, h] of the enrolled face
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    employee: Mapped[Employee] = relationship(back_populates="photos")
    templates: Mapped[list[FaceTemplate]] = relationship(
        back_populates="photo", cascade="all, delete-orphan"
    )


class FaceTemplate(db.Model):
    """One 128-d FaceNet embedding of an enrolled face (original or augmented)."""

    __tablename__ = "face_templates"
    __table_args__ = (Index("ix_face_templates_model_version", "model_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    photo_id: Mapped[int] = mapped_column(ForeignKey("enrollment_photos.id", ondelete="CASCADE"))
    variation: Mapped[str] = mapped_column(String(40))  # "original" or the augmentation's name
    model_version: Mapped[str] = mapped_column(String(80))  # embedder that made it
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian, L2-normalized

    employee: Mapped[Employee] = relationship(back_populates="templates")
    photo: Mapped[EnrollmentPhoto] = relationship(back_populates="templates")

    @property
    def vector(self) -> np.ndarray:
        """The embedding as a numpy array."""
        return np.frombuffer(self.embedding, dtype="<f4")
