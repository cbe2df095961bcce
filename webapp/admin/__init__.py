"""Admin pages: dashboard, records, review, reports, employees, consent, users and privacy."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def staff_only():
    """Every admin page needs an admin or a manager; each view then narrows (defence in depth)."""
    from flask_login import current_user

    from webapp.admin.access import STAFF_ROLES
    from webapp.errors import Forbidden
    from webapp.extensions import login_manager

    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role not in STAFF_ROLES:
        raise Forbidden("You do not have access to this page.")
    return None


def init_app(app) -> None:
    """Register the admin pages."""
    from webapp.admin import (  # noqa: F401  (each module attaches its routes to bp)
        dashboard,
        gestures,
        kiosks,
        privacy,
        records,
        reports,
        routes,
        staff,
        users,
    )
    from webapp.admin.views import register_template_helpers

    register_template_helpers(app)
    app.register_blueprint(bp)
