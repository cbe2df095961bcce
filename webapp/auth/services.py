"""Account operations; they own the commits."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp import audit
from webapp.auth.emails import normalize_email
from webapp.auth.models import Role, User
from webapp.db import utcnow
from webapp.errors import AppError
from webapp.extensions import db

MIN_PASSWORD_LENGTH = 8


def find_user(email: str) -> User | None:
    """Return the user with this e-mail, if any."""
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def create_user(
    email: str, password: str, role: Role, actor=None, display_name=None, department=None
) -> User:
    """Create an account; raise AppError if the e-mail is taken or the password too short."""
    try:
        email = normalize_email(email)
    except ValueError as exc:
        message = f"{email.strip()!r} is not a usable e-mail address: {exc}"
        raise AppError(message, "invalid_email") from exc
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AppError(
            f"The password needs at least {MIN_PASSWORD_LENGTH} characters.", "weak_password"
        )
    if find_user(email):
        raise AppError(f"{email} already has an account.", "email_taken", 409)
    department = (department or "").strip() or None
    user = User(email=email, role=Role(role), display_name=display_name, department=department)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    after = {"email": email, "role": str(role)}
    if department:
        after["department"] = department
    audit.record("user.create", "user", user.id, actor, after=after)
    db.session.commit()
    return user


# Unknown accounts hash a password too, so the answer's timing does not tell who has an account.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


def authenticate(email: str, password: str) -> User | None:
    """Return the active user for these credentials, recording the login; None otherwise."""
    user = find_user(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    user.last_login_at = utcnow()
    if not user.session_token:
        user.rotate_session_token()
    db.session.commit()
    return user


def end_sessions(user: User) -> None:
    """Log out every session and remember cookie of `user` (logout, password change)."""
    user.rotate_session_token()
    db.session.commit()


def change_password(user: User, password: str, actor=None) -> None:
    """Set a new password; every existing session of the user ends."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AppError(
            f"The password needs at least {MIN_PASSWORD_LENGTH} characters.", "weak_password"
        )
    user.set_password(password)
    audit.record("user.password", "user", user.id, actor)
    db.session.commit()


def ensure_admin(email: str, password: str | None) -> tuple[User | None, str | None]:
    """Create the first admin if there is none; return it with the password if one was made up."""
    if db.session.scalar(select(User).where(User.role == Role.ADMIN).limit(1)):
        return None, None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    return create_user(email, password, Role.ADMIN, actor="setup"), generated


def _user_snapshot(user: User) -> dict:
    return {"role": str(user.role), "department": user.department, "active": user.active}


def update_user(user: User, role: Role, department: str | None, active: bool, actor=None) -> User:
    """Change a user's role, department (managers) and whether they may log in."""
    role = Role(role)
    department = (department or "").strip() or None
    if getattr(actor, "id", None) == user.id and (role != Role.ADMIN or not active):
        raise AppError("You cannot take away your own admin access.", "own_access")
    if user.role == Role.ADMIN and user.active and (role != Role.ADMIN or not active):
        admins = db.session.scalar(
            select(func.count(User.id)).where(User.role == Role.ADMIN, User.active.is_(True))
        )
        if admins <= 1:
            raise AppError("There must be at least one active admin.", "last_admin", 409)
    before = _user_snapshot(user)
    user.role, user.department, user.active = role, department, active
    after = _user_snapshot(user)
    if after != before:
        audit.record("user.update", "user", user.id, actor, before=before, after=after)
    db.session.commit()
    return user
