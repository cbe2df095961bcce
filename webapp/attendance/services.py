"""Kiosk registration and token checks; they own the commits."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select

from webapp import audit
from webapp.attendance.models import Kiosk
from webapp.db import utcnow
from webapp.errors import AppError, NotFound
from webapp.extensions import db

LAST_SEEN_RESOLUTION = timedelta(seconds=30)


def hash_token(token: str) -> str:
    """Return the stored form of a kiosk token (tokens are random, so a plain sha256 is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _free_name(name: str, kiosk_id: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise AppError("A kiosk needs a name.", "name_required")
    if len(name) > 80:
        raise AppError("A kiosk name has at most 80 characters.", "name_too_long")
    other = db.session.scalar(select(Kiosk).where(Kiosk.name == name))
    if other is not None and other.id != kiosk_id:
        raise AppError(f"A kiosk named {name!r} already exists.", "kiosk_name_taken", 409)
    return name


def get_kiosk(kiosk_id: int) -> Kiosk:
    """The kiosk with this id, or 404."""
    kiosk = db.session.get(Kiosk, kiosk_id)
    if kiosk is None:
        raise NotFound("No such kiosk.", "kiosk_not_found")
    return kiosk


def create_kiosk(name: str, actor=None) -> tuple[Kiosk, str]:
    """Register a kiosk and return it with its token, which is never shown again."""
    name = _free_name(name)
    token = "kiosk_" + secrets.token_urlsafe(32)
    kiosk = Kiosk(name=name, token_hash=hash_token(token))
    db.session.add(kiosk)
    db.session.flush()
    audit.record("kiosk.create", "kiosk", kiosk.id, actor, after={"name": name})
    db.session.commit()
    return kiosk, token


def rename_kiosk(kiosk_id: int, name: str, actor=None) -> Kiosk:
    """Give a kiosk a new name; its token stays valid."""
    kiosk = get_kiosk(kiosk_id)
    name = _free_name(name, kiosk.id)
    if name != kiosk.name:
        audit.record(
            "kiosk.rename",
            "kiosk",
            kiosk.id,
            actor,
            before={"name": kiosk.name},
            after={"name": name},
        )
        kiosk.name = name
        db.session.commit()
    return kiosk


def revoke_kiosk(name_or_id: str | int, actor=None) -> Kiosk:
    """Revoke a kiosk's token (by name, or by id as an int); its past events stay."""
    if isinstance(name_or_id, int):
        kiosk = get_kiosk(name_or_id)
    else:
        kiosk = db.session.scalar(select(Kiosk).where(Kiosk.name == name_or_id))
        if kiosk is None:
            raise NotFound(f"No kiosk named {name_or_id!r}.")
    if kiosk.revoked_at is None:
        kiosk.revoked_at = utcnow()
        audit.record("kiosk.revoke", "kiosk", kiosk.id, actor, before={"active": True})
        db.session.commit()
    return kiosk


def kiosk_for_token(token: str, note_seen: bool = True) -> Kiosk | None:
    """Return the active kiosk holding this token; `note_seen` records when it was last seen
    (a short write of its own: callers on read paths pass False and write nothing)."""
    kiosk = db.session.scalar(select(Kiosk).where(Kiosk.token_hash == hash_token(token)))
    if kiosk is None or kiosk.revoked_at is not None:
        return None
    if not note_seen:
        return kiosk
    now = utcnow()
    if kiosk.last_seen_at is None or now - kiosk.last_seen_at > LAST_SEEN_RESOLUTION:
        kiosk.last_seen_at = now
        db.session.commit()
    return kiosk
