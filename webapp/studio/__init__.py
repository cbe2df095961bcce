"""Studio: photo and video face effects run as jobs by a separate worker process."""

from flask import Blueprint

bp = Blueprint("studio", __name__, url_prefix="/studio")
api_bp = Blueprint("studio_api", __name__, url_prefix="/api/v1/studio")


def init_app(app) -> None:
    """Register the studio pages, the REST API and the `flask studio` commands."""
    from webapp.extensions import csrf
    from webapp.studio import api, cli, models, routes  # noqa: F401  (routes attach; models register)

    # Token requests need no CSRF token; session requests are checked in access.api_user().
    csrf.exempt(api_bp)
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    app.cli.add_command(cli.studio)
