"""Readiness: 503 until this worker's models are loaded, then 200 with their versions."""

from __future__ import annotations

from flask import Blueprint, jsonify

from webapp.registry import current_models

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Report whether this worker can serve model routes."""
    registry = current_models()
    if not registry.ready:
        status = "error" if registry.error else "loading"
        body = {"status": status, "error": registry.error}
        body["device_preference"] = registry.device_preference
        return jsonify(body), 503, {"Retry-After": "5"}
    return jsonify(
        status="ok",
        models=registry.versions(),
        device=registry.device,
        device_preference=registry.device_preference,
        load_seconds=round(registry.load_seconds or 0.0, 2),
    )


def init_app(app) -> None:
    """Register the health route."""
    app.register_blueprint(bp)
