"""Recognition service: trains classifier versions and names faces (no routes of its own)."""


def init_app(app) -> None:
    """Give the app its per-process classifier cache; retrain when templates change."""
    from webapp.recognition.services import ClassifierCache, on_templates_changed
    from webapp.signals import TEMPLATES_CHANGED

    app.extensions["classifier_cache"] = ClassifierCache()
    TEMPLATES_CHANGED.connect(on_templates_changed, weak=False)
