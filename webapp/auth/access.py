"""Who may do what: the user loader and role checks for pages."""

from __future__ import annotations

import hmac
from functools import wraps

from flask_babel import lazy_gettext as _l
from flask_login import current_user

from webapp.auth.models import Role, User
from webapp.errors import Forbidden
from webapp.extensions import db, login_manager


def init_login(app) -> None:
    """Configure Flask-Login."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(cookie_id: str) -> User | None:
        user_id, _sep, token = cookie_id.partition(":")
        if not user_id.isascii() or not user_id.isdigit() or not token:
            return None  # an old-style or forged id: log in again
        user = db.session.get(User, int(user_id))
        if user is None or not user.session_token:
            return None
        return user if hmac.compare_digest(user.session_token, token) else None


def roles_required(*roles: Role):
    """Let only logged-in users with one of `roles` through (anonymous: to the login page)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                raise Forbidden("You do not have access to this page.")
            return view(*args, **kwargs)

        return wrapped

    return decorator
