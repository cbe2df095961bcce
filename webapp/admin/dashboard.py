"""The dashboard: today at a glance, and the kiosks' health for admins."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from webapp.admin import bp
from webapp.admin.access import current_scope, readers
from webapp.admin.charts import column_chart
from webapp.attendance import reports
from webapp.attendance.models import Kiosk
from webapp.attendance.records import pending_review_count
from webapp.auth.models import Role
from webapp.extensions import db

KIOSK_STALE_AFTER = timedelta(minutes=5)  # a kiosk sends frames every second while it runs


def kiosk_health(now, include_revoked: bool = False) -> list[dict]:
    """Every active kiosk (and revoked ones if asked) with when it was last seen."""
    health = []
    query = select(Kiosk).order_by(Kiosk.revoked_at.is_not(None), Kiosk.name)
    if not include_revoked:
        query = query.where(Kiosk.revoked_at.is_(None))
    for kiosk in db.session.scalars(query):
        seen = kiosk.last_seen_at
        if kiosk.revoked_at is not None:
            state = "revoked"
        elif seen is None:
            state = "never"
        elif now - seen <= KIOSK_STALE_AFTER:
            state = "online"
        else:
            state = "offline"
        minutes = int((now - seen).total_seconds() // 60) if seen else None
        health.append({"kiosk": kiosk, "state": state, "minutes": minutes})
    return health


@bp.get("/dashboard")
@readers
def dashboard():
    """Present, late, absent and not-in-yet today; pending reviews and kiosks for admins."""
    scope = current_scope()
    ctx = reports.Context.current()
    today = reports.today_at_a_glance(scope, ctx)
    week_first = ctx.today() - timedelta(days=13)
    recent = reports.compute_days(scope, week_first, ctx.today(), ctx)
    arrivals = [
        (day.strftime("%m-%d"), count)
        for day, count in reports.arrivals_per_day(recent, week_first, ctx.today())
    ]
    is_admin = current_user.role == Role.ADMIN
    return render_template(
        "admin/dashboard.html",
        today=today,
        day=ctx.today(),
        late=today.with_status(reports.LATE),
        absent=today.with_status(reports.ABSENT),
        not_in_yet=today.with_status(reports.NOT_IN_YET),
        at_work=today.with_status(reports.AT_WORK),
        pending=pending_review_count(scope) if is_admin else None,
        kiosks=kiosk_health(ctx.now) if is_admin else None,
        arrivals_chart=column_chart(arrivals, _("Arrivals per day"), label_every=2),
        scope=scope,
    )
