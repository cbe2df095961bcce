"""Who may use the studio API: a personal token (`Authorization: Bearer ...`) or a logged-in
session, of a studio user or an admin. Session requests that change state need the CSRF token
(the page sends it as X-CSRFToken); token requests do not.
"""

from __future__ import annotations

from functools import wraps

from flask import current_app, g
from flask_login import current_user

from webapp.auth.models import Role, User
from webapp.auth.tokens import bearer_token, user_for_token
from webapp.errors import Forbidden, Unauthorized
from webapp.extensions import csrf

STUDIO_ROLES = (Role.STUDIO, Role.ADMIN)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def api_user() -> User:
    """The studio user making this API request, or raise 401/403."""
    from flask import request

    secret = bearer_token()
    if secret is not None:
        user = user_for_token(secret)
    elif current_user.is_authenticated:
        user = current_user._get_current_object()
        if request.method not in SAFE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
    else:
        raise Unauthorized(
            "Log in, or send a personal API token as 'Authorization: Bearer <token>'."
        )
    if user.role not in STUDIO_ROLES:
        raise Forbidden("The studio is for studio users and admins.")
    return user


def studio_api(view):
    """Let only studio users (token or session) through; the user is `g.studio_user`."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        g.studio_user = api_user()
        return view(*args, **kwargs)

    return wrapped
