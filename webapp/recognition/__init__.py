"""Recognition service: trains classifier versions and names faces (no routes of its own)."""


def init_app(app) -> None:
    """Give the app its per-process classifier cache."""
    from webapp.recognition.services import ClassifierCache

    app.extensions["classifier_cache"] = ClassifierCache()
