"""Studio: photo and video face effects (the effects arrive in their own issue)."""

from flask import Blueprint

bp = Blueprint("studio", __name__, url_prefix="/studio")


def init_app(app) -> None:
    """Register the studio pages."""
    from webapp.studio import routes  # noqa: F401  (routes attach to bp)

    app.register_blueprint(bp)
