"""Recognition service: trains classifier versions and names faces (no routes of its own)."""


def init_app(app) -> None:
    """Give the app its per-process classifier cache and the Server-Timing header."""
    from webapp.recognition import timing
    from webapp.recognition.services import ClassifierCache

    app.extensions["classifier_cache"] = ClassifierCache()
    app.before_request(timing.start)
    app.after_request(timing.add_header)
