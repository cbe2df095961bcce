"""API authentication: a kiosk token in X-Kiosk-Token, or a logged-in admin's session."""

from __future__ import annotations

from functools import wraps

from flask import g, request
from flask_login import current_user

from webapp.attendance.services import kiosk_for_token
from webapp.auth.models import Role
from webapp.errors import Forbidden, Unauthorized

READS = {"GET", "HEAD", "OPTIONS"}  # these never write (not even the kiosk's last_seen_at)


def kiosk_or_admin_required(view):
    """Set g.kiosk (token callers) or require an admin session."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        token = request.headers.get("X-Kiosk-Token")
        g.kiosk = None
        if token:
            g.kiosk = kiosk_for_token(token, note_seen=request.method not in READS)
            if g.kiosk is None:
                raise Unauthorized("The kiosk token is not valid or was revoked.", "invalid_token")
        elif not current_user.is_authenticated:
            raise Unauthorized("Send X-Kiosk-Token or log in as an admin.")
        elif current_user.role != Role.ADMIN:
            raise Forbidden("Only admins and kiosks may use this API.")
        return view(*args, **kwargs)

    return wrapped


def kiosk_required(view):
    """Only a registered kiosk (X-Kiosk-Token) may call this; sets g.kiosk."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        token = request.headers.get("X-Kiosk-Token")
        if not token:
            raise Unauthorized("Send the kiosk token in X-Kiosk-Token.")
        g.kiosk = kiosk_for_token(token, note_seen=request.method not in READS)
        if g.kiosk is None:
            raise Unauthorized("The kiosk token is not valid or was revoked.", "invalid_token")
        return view(*args, **kwargs)

    return wrapped
