"""Employees and biometric enrollment (pages live in the admin blueprint)."""


def init_app(app) -> None:
    """Register the `flask employees` commands."""
    from webapp.employees import cli

    app.cli.add_command(cli.employees)
