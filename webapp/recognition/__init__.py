"""Recognition service: trains classifier versions and names faces (no routes of its own)."""


def init_app(app) -> None:
    """Give the app its classifier cache and the Server-Timing header; retrain on new templates."""
    from webapp.recognition import timing
    from webapp.recognition.services import ClassifierCache, on_templates_changed
    from webapp.signals import TEMPLATES_CHANGED

    app.extensions["classifier_cache"] = ClassifierCache()
    TEMPLATES_CHANGED.connect(on_templates_changed, weak=False)
    app.before_request(timing.start)
    app.after_request(timing.add_header)
