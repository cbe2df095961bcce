"""Korean and English UI: ?lang=, then the user's choice, then Accept-Language."""

from __future__ import annotations

from flask import current_app, redirect, request, session, url_for
from flask_login import current_user

from webapp.extensions import babel


def select_locale() -> str:
    """Pick the UI language for this request."""
    languages = current_app.config["LANGUAGES"]
    for candidate in (request.args.get("lang"), session.get("lang")):
        if candidate in languages:
            return candidate
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    return (
        request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


def set_language(code: str):
    """Remember the chosen language and go back where the user was."""
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    target = request.referrer
    if not target or not target.startswith(request.host_url):
        target = url_for("auth.login")
    return redirect(target)


def init_app(app) -> None:
    """Bind Flask-Babel and the language switch route."""
    babel.init_app(app, locale_selector=select_locale)
    app.add_url_rule("/lang/<code>", "set_language", set_language)

    @app.context_processor
    def inject_locale():
        from flask_babel import get_locale

        return {"current_locale": str(get_locale()), "languages": app.config["LANGUAGES"]}
