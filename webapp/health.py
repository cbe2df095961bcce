"""Readiness: 503 until this worker's models are loaded, then 200 with their versions."""

from __future__ import annotations

from flask import Blueprint, jsonify

from webapp.extensions import models

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Report whether this worker can serve model routes."""
    if not models.ready:
        status = "error" if models.error else "loading"
        return jsonify(status=status, error=models.error), 503, {"Retry-After": "5"}
    return jsonify(
        status="ok",
        models=models.versions(),
        device=models.device,
        load_seconds=round(models.load_seconds or 0.0, 2),
    )


def init_app(app) -> None:
    """Register the health route."""
    app.register_blueprint(bp)
