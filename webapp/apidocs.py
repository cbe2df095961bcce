"""The API reference page: every OpenAPI document of the app rendered by Swagger UI, offline."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("apidocs", __name__)


def openapi_documents() -> list[dict]:
    """Every route serving an OpenAPI document (`.../openapi.json`), as {name, url}."""
    documents = []
    for rule in current_app.url_map.iter_rules():
        if rule.rule.endswith("/openapi.json") and not rule.arguments:
            # /api/v1/studio/openapi.json -> "studio"
            name = rule.rule.removesuffix("/openapi.json").rstrip("/").rsplit("/", 1)[-1]
            documents.append({"name": name or "api", "url": rule.rule})
    return sorted(documents, key=lambda doc: doc["name"])


@bp.get("/api/docs")
def api_docs():
    """Swagger UI (served from static/vendor, no CDN) over the app's OpenAPI documents."""
    return render_template("apidocs.html", documents=openapi_documents())


def init_app(app) -> None:
    """Register the API reference page."""
    app.register_blueprint(bp)
