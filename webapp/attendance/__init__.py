"""Check-in: kiosks, the recognition API and attendance events."""

from flask import Blueprint

bp = Blueprint("attendance", __name__)


def init_app(app) -> None:
    """Register the API routes and the `flask kiosks` commands."""
    from webapp.attendance import (  # noqa: F401  (routes attach to bp; models register)
        api,
        cli,
        kiosk_api,
        kiosk_models,
        kiosk_pages,
    )
    from webapp.extensions import csrf

    csrf.exempt(bp)  # token- or session-authenticated JSON API; it changes no state by form post
    app.register_blueprint(bp)
    app.cli.add_command(cli.kiosks)
