"""Answers for a database or media folder that cannot serve right now: 503/507, never a 500."""

from __future__ import annotations

import logging

from flask_babel import gettext as _
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from webapp.errors import error_response
from webapp.extensions import db

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


def _database_unavailable(exc: Exception):
    """A lock held past the busy timeout, a stopped server, an exhausted pool: 503, retry."""
    log.warning("database unavailable: %s", str(exc).splitlines()[0][:300])
    try:
        db.session.rollback()
    except Exception:  # the connection may be gone; the session is discarded anyway
        log.debug("rollback after a database outage failed", exc_info=True)
    body, status = error_response(
        503, "database_unavailable", _("The database is busy. Try again in a few seconds.")
    )
    return body, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def init_app(app) -> None:
    """Register the handlers."""
    for kind in (OperationalError, PoolTimeout):  # constraint errors stay 500s: bugs
        app.register_error_handler(kind, _database_unavailable)
