"""Check-in: kiosks, the recognition API and attendance events."""

from flask import Blueprint

bp = Blueprint("attendance", __name__)


def init_app(app) -> None:
    """Register the API routes and the `flask kiosks` commands."""
    from webapp.attendance import api, cli  # noqa: F401  (api attaches to bp)
    from webapp.extensions import csrf

    csrf.exempt(bp)  # token- or session-authenticated JSON API; it changes no state by form post
    app.register_blueprint(bp)
    app.cli.add_command(cli.kiosks)
