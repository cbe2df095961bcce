"""Kiosk sessions (the check-in state between frames) and taught gesture models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import UTCDateTime, utcnow
from webapp.extensions import db


class KioskSession(db.Model):
    """One kiosk screen's running check-in flow; any worker can take its next frame."""

    __tablename__ = "kiosk_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid4 hex
    kiosk_id: Mapped[int] = mapped_column(ForeignKey("kiosks.id", ondelete="CASCADE"))
    state: Mapped[dict] = mapped_column(JSON)  # webapp.attendance.flow state
    version: Mapped[int] = mapped_column(default=0)  # optimistic lock: bumped on every frame
    proof_photo: Mapped[str | None] = mapped_column(String(255))  # frame kept at "capture"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GestureSample(db.Model):
    """A labelled pose recorded at a kiosk or uploaded by an admin, for teach mode."""

    __tablename__ = "gesture_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(20))  # O, X, capture, standby
    features: Mapped[list[float]] = mapped_column(JSON)  # ml.gestures.pose_features
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)  # 33 x (x, y, z, visibility)
    source: Mapped[str] = mapped_column(String(20))  # "upload" or "camera"
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GestureModelVersion(db.Model):
    """A gesture classifier trained from the samples; kiosks may switch to it."""

    __tablename__ = "gesture_models"

    id: Mapped[int] = mapped_column(primary_key=True)  # the version number
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    sample_count: Mapped[int]
    accuracy: Mapped[float]  # cross-validated accuracy at training time
    stats: Mapped[dict] = mapped_column(JSON, default=dict)  # per-class counts and scores
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # ml.gestures.GestureModel.to_bytes()
