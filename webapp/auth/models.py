"""People who log in: admins, managers and studio users."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.db import UTCDateTime, enum_column, utcnow
from webapp.extensions import db


class Role(enum.StrEnum):
    """What a user may do."""

    ADMIN = "admin"
    MANAGER = "manager"
    STUDIO = "studio"


class User(UserMixin, db.Model):
    """An account that logs in to the web pages or the API."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    display_name: Mapped[str | None] = mapped_column(String(120))
    locale: Mapped[str | None] = mapped_column(String(8))  # preferred UI language, if chosen
    # A manager reads the records and reports of the employees of this department only.
    department: Mapped[str | None] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Part of the id in session and remember cookies; a new one logs out every copy of them.
    session_token: Mapped[str | None] = mapped_column(String(64))

    def set_password(self, password: str) -> None:
        """Store a salted hash of `password`; sessions made with the old one end."""
        self.password_hash = generate_password_hash(password)
        self.rotate_session_token()

    def rotate_session_token(self) -> None:
        """Invalidate every session and remember cookie issued so far."""
        self.session_token = secrets.token_hex(16)

    def get_id(self) -> str:
        """The cookie identity: the user id and the current session token."""
        if not self.session_token:
            self.rotate_session_token()
        return f"{self.id}:{self.session_token}"

    def check_password(self, password: str) -> bool:
        """True when `password` matches."""
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_admin(self) -> bool:
        """True for administrators."""
        return self.role == Role.ADMIN

    @property
    def is_manager(self) -> bool:
        """True for department managers."""
        return self.role == Role.MANAGER


class ApiToken(db.Model):
    """A personal token for the REST API (`Authorization: Bearer ...`), stored only as a hash."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))  # what the user calls it ("render farm")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    prefix: Mapped[str] = mapped_column(String(16))  # the token's first characters, to tell apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def active(self) -> bool:
        """True until revoked."""
        return self.revoked_at is None
