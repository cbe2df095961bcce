"""Login, logout, roles and user accounts."""

from flask import Blueprint

bp = Blueprint("auth", __name__)


def init_app(app) -> None:
    """Register routes, the user loader and the `flask users` commands."""
    from webapp.auth import cli, routes  # noqa: F401  (routes attach to bp)
    from webapp.auth.access import init_login

    init_login(app)
    app.register_blueprint(bp)
    app.cli.add_command(cli.users)
