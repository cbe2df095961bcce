"""Employees and their biometric enrollment: photos and the face templates made from them."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String
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

    photos: Mapped[list[EnrollmentPhoto]] = relationship(
        back_populates="employee", cascade="all, delete-orphan", order_by="EnrollmentPhoto.id"
    )
    templates: Mapped[list[FaceTemplate]] = relationship(
        back_populates="employee", cascade="all, delete-orphan"
    )


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
