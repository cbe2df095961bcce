"""Personal API tokens: made, listed, revoked and checked; they own the commits."""

from __future__ import annotations

import hashlib
import secrets

from flask import request
from sqlalchemy import select

from webapp import audit
from webapp.auth.models import ApiToken, User
from webapp.db import utcnow
from webapp.errors import NotFound, Unauthorized
from webapp.extensions import db

TOKEN_PREFIX = "fp_"


def hash_token(token: str) -> str:
    """The stored form of a token (tokens are random, so a plain sha256 is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, name: str, actor=None) -> tuple[ApiToken, str]:
    """Make a token for `user`; returns it with the secret, which is never shown again."""
    name = (name or "").strip()[:80] or "API token"
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(secret), prefix=secret[:10])
    db.session.add(token)
    db.session.flush()
    audit.record("api_token.create", "api_token", token.id, actor or user, after={"name": name})
    db.session.commit()
    return token, secret


def user_tokens(user: User) -> list[ApiToken]:
    """The user's tokens, newest first (revoked ones included)."""
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def revoke_token(user: User, token_id: int, actor=None) -> ApiToken:
    """Revoke one of the user's tokens (404 for anyone else's)."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("There is no such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("api_token.revoke", "api_token", token.id, actor or user)
        db.session.commit()
    return token


def bearer_token() -> str | None:
    """The token in this request's `Authorization: Bearer ...` header, if there is one."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def user_for_token(secret: str) -> User:
    """The active user holding this active token, noting its use; raise Unauthorized otherwise."""
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None or token.revoked_at is not None:
        raise Unauthorized("The API token is not valid or was revoked.", "invalid_token")
    user = db.session.get(User, token.user_id)
    if user is None or not user.active:
        raise Unauthorized("The API token's account is disabled.", "invalid_token")
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
        db.session.commit()
    return user
