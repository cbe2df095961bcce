"""Template helpers shared by the admin pages: local times, labels and links that keep filters."""

from __future__ import annotations

from datetime import datetime

from flask import request, url_for
from flask_login import current_user

from webapp.admin.tables import EVENT_STATUS_LABELS, KIND_LABELS, STATUS_LABELS, cell_text
from webapp.attendance.records import Scope, pending_review_count, site_timezone
from webapp.auth.models import Role


def local_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A stored UTC moment on the site's wall clock."""
    if moment is None:
        return ""
    return moment.astimezone(site_timezone()).strftime(fmt)


def url_with(**changes) -> str:
    """This page's URL with some query arguments changed (None removes one)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def pending_reviews() -> int:
    """Events waiting for review (admins only; 0 for everyone else)."""
    if not getattr(current_user, "is_authenticated", False) or current_user.role != Role.ADMIN:
        return 0
    return pending_review_count(Scope(everyone=True))


def register_template_helpers(app) -> None:
    """Make the helpers available in every template."""
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(cell_text, "cell_text")
    app.add_template_global(url_with, "url_with")
    app.add_template_global(pending_reviews, "pending_reviews")
    app.add_template_global(STATUS_LABELS, "STATUS_LABELS")
    app.add_template_global(KIND_LABELS, "KIND_LABELS")
    app.add_template_global(EVENT_STATUS_LABELS, "EVENT_STATUS_LABELS")
