"""HTTP hardening in one place: proxy trust, security headers, login throttling, the 429 answer."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import gettext as _
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

limiter = Limiter(
    key_func=get_remote_address,
    # Failed API authentication (401) per client address, across all /api/ routes.
    application_limits=[lambda: current_app.config["API_AUTH_LIMIT_PER_IP"]],
    application_limits_exempt_when=lambda: not request.path.startswith("/api/"),
    application_limits_deduct_when=lambda response: response.status_code == 401,
    headers_enabled=False,  # its header rewriting would stretch every Retry-After to the window
    key_prefix="face-limits",
)


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` in URLs: ASCII digits only and no larger than a database id can be, so
    `/media/²` or `/media/99999999999999999999` is a 404 instead of an error in the database."""

    regex = r"[0-9]+"

    def __init__(self, url_map, fixed_digits=0, min=None, max=2**63 - 1, signed=False) -> None:
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def failed_login(response) -> bool:
    """Only refused logins count against the login limits."""
    return response.status_code == 401


def login_account_key() -> str:
    """The throttling key of the account a login form names (normalized like stored e-mails)."""
    return "login-account:" + (request.form.get("email") or "").strip().lower()[:255]


def login_limits(view):
    """Throttle failed logins per client address and per account (POST only)."""
    per_ip = limiter.limit(
        lambda: current_app.config["LOGIN_LIMIT_PER_IP"],
        methods=["POST"],
        deduct_when=failed_login,
        scope="login-ip",
    )
    per_account = limiter.limit(
        lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
        key_func=login_account_key,
        methods=["POST"],
        deduct_when=failed_login,
        scope="login-account",
    )
    return per_ip(per_account(view))


def _security_headers(response):
    """Headers every answer carries unless a view set its own."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", current_app.config["CONTENT_SECURITY_POLICY"])
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
    return response


def _too_many(exc: RateLimitExceeded):
    """A clear 429: a page for forms, JSON on the APIs, Retry-After from the limit's window."""
    from webapp.errors import error_response

    body, status = error_response(
        429,
        "too_many_requests",
        _("Too many attempts. Wait a few minutes, then try again."),
    )
    retry = max(1, int(exc.limit.limit.get_expiry())) if getattr(exc, "limit", None) else 60
    return body, status, {"Retry-After": str(retry)}


def init_app(app) -> None:
    """Trust the configured proxies, add security headers and throttling to `app`."""
    app.url_map.converters["int"] = DatabaseIdConverter  # before any route is added
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops:  # behind Nginx: the client address, scheme and host come from its X-Forwarded-*
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    redis_url = app.config.get("REDIS_URL")
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)  # a Redis outage must not lock out
    limiter.init_app(app)
    app.after_request(_security_headers)
    app.register_error_handler(RateLimitExceeded, _too_many)
