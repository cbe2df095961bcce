"""Admin pages: employees and enrollment (records and reports come later)."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")


def init_app(app) -> None:
    """Register the admin pages."""
    from webapp.admin import routes  # noqa: F401  (routes attach to bp)

    app.register_blueprint(bp)
