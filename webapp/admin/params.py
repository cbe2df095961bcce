"""Query-string and form values of the admin pages, parsed strictly: a malformed or out-of-range
value is a 400 that names the parameter, never a 500 further down."""

from __future__ import annotations

from datetime import date

from webapp.errors import AppError

MIN_DAY, MAX_DAY = date(1900, 1, 1), date(9998, 12, 31)  # room for +/- a month of arithmetic
MAX_ID = 2**63 - 1  # the largest id a database column holds


class BadParameter(AppError):
    """A query or form value that cannot be used."""

    code = "invalid_parameter"


def parse_int(value: str | None, name: str, default: int | None = None) -> int | None:
    """A positive whole number in ASCII digits (ids, pages), or `default` when absent."""
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_ID:
        raise BadParameter(f"{name} must be a whole number from 1 to {MAX_ID}, not {value[:40]!r}.")
    return int(value)


def parse_optional_day(value: str | None, name: str = "day") -> date | None:
    """A YYYY-MM-DD value between 1900 and 9998, or None when absent."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if value.isascii() and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise BadParameter(f"{name} must be a date written YYYY-MM-DD, not {value[:40]!r}.")
    if not MIN_DAY <= day <= MAX_DAY:
        raise BadParameter(f"{name} must be between {MIN_DAY} and {MAX_DAY}.")
    return day


def parse_day(value: str | None, default: date, name: str = "day") -> date:
    """A YYYY-MM-DD value, or `default` when absent."""
    return parse_optional_day(value, name) or default


def parse_month(value: str | None, default: tuple[int, int]) -> tuple[int, int]:
    """A YYYY-MM value as (year, month), or `default` when absent."""
    if not value:
        return default
    try:
        day = date.fromisoformat(f"{value}-01") if value.isascii() and len(value) == 7 else None
    except ValueError:
        day = None
    if day is None:
        raise BadParameter(f"month must be written YYYY-MM, not {value[:40]!r}.")
    if not MIN_DAY <= day <= MAX_DAY:
        raise BadParameter(f"month must be between {MIN_DAY:%Y-%m} and {MAX_DAY:%Y-%m}.")
    return day.year, day.month
