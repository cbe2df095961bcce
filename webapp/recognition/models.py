"""Trained classifier versions, shared by every worker through the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import UTCDateTime, utcnow
from webapp.extensions import db


class ClassifierVersion(db.Model):
    """One trained open-set classifier; the newest row is the one in use."""

    __tablename__ = "classifier_versions"

    id: Mapped[int] = mapped_column(primary_key=True)  # the version number
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    model_version: Mapped[str] = mapped_column(String(80))  # embedder the templates came from
    employee_count: Mapped[int]
    template_count: Mapped[int]
    threshold: Mapped[float]  # cosine to the centroid needed to be "known"
    stats: Mapped[dict] = mapped_column(JSON, default=dict)  # training facts shown to admins
    payload: Mapped[bytes | None] = mapped_column(
        LargeBinary
    )  # npz arrays; None when nobody is enrolled
