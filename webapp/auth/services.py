"""Account operations; they own the commits."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from webapp import audit
from webapp.auth.models import Role, User
from webapp.db import utcnow
from webapp.errors import AppError
from webapp.extensions import db

MIN_PASSWORD_LENGTH = 8


def find_user(email: str) -> User | None:
    """Return the user with this e-mail, if any."""
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def create_user(email: str, password: str, role: Role, actor=None, display_name=None) -> User:
    """Create an account; raise AppError if the e-mail is taken or the password too short."""
    email = email.strip().lower()
    if "@" not in email:
        raise AppError(f"{email!r} is not an e-mail address.", "invalid_email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AppError(
            f"The password needs at least {MIN_PASSWORD_LENGTH} characters.", "weak_password"
        )
    if find_user(email):
        raise AppError(f"{email} already has an account.", "email_taken", 409)
    user = User(email=email, role=Role(role), display_name=display_name)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", "user", user.id, actor, after={"email": email, "role": str(role)})
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the active user for these credentials, recording the login; None otherwise."""
    user = find_user(email)
    if user is None or not user.active or not user.check_password(password):
        return None
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def ensure_admin(email: str, password: str | None) -> tuple[User | None, str | None]:
    """Create the first admin if there is none; return it with the password if one was made up."""
    if db.session.scalar(select(User).where(User.role == Role.ADMIN).limit(1)):
        return None, None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    return create_user(email, password, Role.ADMIN, actor="setup"), generated
