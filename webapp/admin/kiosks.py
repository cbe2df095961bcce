"""The Kiosks page: register, pair, rename and revoke kiosks; what each is doing today."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from webapp.admin import bp
from webapp.admin.dashboard import kiosk_health
from webapp.attendance.kiosk_models import GestureModelVersion
from webapp.attendance.pairing import pairing_link, qr_svg
from webapp.attendance.records import site_timezone
from webapp.attendance.services import create_kiosk, get_kiosk, rename_kiosk, revoke_kiosk
from webapp.auth.access import roles_required
from webapp.auth.models import Role
from webapp.errors import AppError, localize
from webapp.extensions import db

admin_only = roles_required(Role.ADMIN)


def _page(created=None, token: str | None = None, status: int = 200):
    now = datetime.now(UTC)
    today = now.astimezone(site_timezone()).date()
    rows = [
        {**row, "frames": row["kiosk"].frames_today if row["kiosk"].frames_day == today else 0}
        for row in kiosk_health(now, include_revoked=True)
    ]
    versions = db.session.scalars(
        select(GestureModelVersion).order_by(GestureModelVersion.id.desc())
    ).all()
    pairing = None
    if created is not None and token:
        link = pairing_link(token)
        pairing = {"kiosk": created, "token": token, "link": link, "qr": qr_svg(link)}
    return render_template(
        "admin/kiosks.html", rows=rows, versions=versions, pairing=pairing
    ), status


@bp.get("/kiosks")
@admin_only
def kiosks():
    """Every kiosk: state, last seen, gesture reading and frames today."""
    return _page()


@bp.post("/kiosks")
@admin_only
def kiosk_create():
    """Register a kiosk and show its token once, with a pairing link and its QR code."""
    try:
        kiosk, token = create_kiosk(request.form.get("name", ""), actor=current_user)
    except AppError as exc:
        flash(localize(exc.code, exc.message), "error")
        return redirect(url_for("admin.kiosks"))
    # Rendered, not redirected: the token must never travel in a cookie or a URL the server sees.
    return _page(created=kiosk, token=token, status=201)


@bp.post("/kiosks/<int:kiosk_id>/rename")
@admin_only
def kiosk_rename(kiosk_id: int):
    """Give a kiosk a new name; the device keeps working."""
    try:
        kiosk = rename_kiosk(kiosk_id, request.form.get("name", ""), actor=current_user)
    except AppError as exc:
        flash(localize(exc.code, exc.message), "error")
    else:
        flash(_("Kiosk renamed to %(name)s.", name=kiosk.name), "success")
    return redirect(url_for("admin.kiosks"))


@bp.post("/kiosks/<int:kiosk_id>/revoke")
@admin_only
def kiosk_revoke(kiosk_id: int):
    """Revoke a kiosk's token: the device stops at its next frame; its records stay."""
    kiosk = revoke_kiosk(get_kiosk(kiosk_id).id, actor=current_user)
    flash(_("Kiosk %(name)s revoked: its token no longer works.", name=kiosk.name), "success")
    return redirect(url_for("admin.kiosks"))
