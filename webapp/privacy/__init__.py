"""Biometric privacy across packages: retention of face data and proof photos (above employees,
attendance and recognition, so none of those imports another for it). Consent records stay with
the employees; retraining after a deletion goes through webapp.signals."""


def init_app(app) -> None:
    """Register the `flask retention` commands."""
    from webapp.privacy import cli

    app.cli.add_command(cli.retention)
