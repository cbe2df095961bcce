"""Who may do what: the user loader and role checks for pages."""

from __future__ import annotations

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
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, int(user_id))


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
