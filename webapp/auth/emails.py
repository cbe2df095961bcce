"""The one e-mail rule for accounts, shared by the login form, the admin pages and the CLI."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def normalize_email(value: str) -> str:
    """Return the stored form of an account e-mail; raise ValueError with the reason if invalid."""
    value = (value or "").strip()
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return checked.normalized.lower()
