"""Audit log: who changed what, when, with the state before and after."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import UTCDateTime, utcnow
from webapp.extensions import db


class AuditEntry(db.Model):
    """One recorded change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(255))  # e-mail, "cli" or a kiosk name
    action: Mapped[str] = mapped_column(String(60))  # e.g. "employee.create"
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int | None]
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)


def record(
    action: str,
    target_type: str,
    target_id: int | None,
    actor=None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """Add an audit entry to the session (the caller commits with its change)."""
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None),
        actor_label=getattr(actor, "email", None)
        or (actor if isinstance(actor, str) else "system"),
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
    )
    db.session.add(entry)
    return entry
