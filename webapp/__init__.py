"""Application factory: wires config, extensions, blueprints, error handlers, CLI and models."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from webapp.logs import configure_logging
from webapp.settings import ROOT, load_settings


def create_app(config: dict | None = None) -> Flask:
    """Create the Flask app; `config` overrides the environment (tests)."""
    instance = (config or {}).get("INSTANCE_PATH") or os.environ.get("INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=str(Path(instance or ROOT / "instance").resolve()),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(load_settings(Path(app.instance_path), override=config))
    configure_logging(app.config["LOG_LEVEL"])

    from webapp import i18n
    from webapp.db import render_migration_item
    from webapp.errors import register_error_handlers
    from webapp.extensions import csrf, db, login_manager, migrate, models

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(ROOT / "migrations"),
        render_as_batch=True,
        render_item=render_migration_item,
    )
    csrf.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    models.init_app(app)
    register_error_handlers(app)
    from webapp import media, resilience, security

    security.init_app(app)
    resilience.init_app(app)
    media.init_app(app)

    from webapp import (
        admin,
        apidocs,
        attendance,
        auth,
        employees,
        health,
        privacy,
        recognition,
        studio,
    )

    features = (auth, admin, attendance, studio, employees, recognition, privacy, health, apidocs)
    for feature in features:
        feature.init_app(app)
    return app
