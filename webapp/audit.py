"""Audit log: who changed what, when, with the state before and after."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import UTCDateTime, utcnow
from webapp.extensions import db


class AuditEntry(db.Model):
    """One recorded change."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(255))  # e-mail, "cli" or a kiosk name
    action: Mapped[str] = mapped_column(String(60))  # e.g. "employee.create"
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int | None]
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)


def actor_label(actor) -> str:
    """How an actor is named in the log: a user's e-mail, a given label ("cli"), or "system"."""
    return getattr(actor, "email", None) or (actor if isinstance(actor, str) else "system")


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
        actor_label=actor_label(actor),
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
    )
    db.session.add(entry)
    return entry
