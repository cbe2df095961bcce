"""Configuration in layers: defaults, the environment, then a test override; checked at start."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the app refuses to start."""


# name: (default, parser). Every setting here may be given in the environment under the same name.
def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


ENV_SETTINGS: dict[str, tuple[object, object]] = {
    "SECRET_KEY": (None, str),
    "DATABASE_URL": (None, str),
    "MODEL_DIR": (None, str),
    "MEDIA_DIR": (None, str),
    "DEVICE": ("auto", str),
    "REDIS_URL": (None, str),
    "SITE_TIMEZONE": ("Asia/Seoul", str),
    "RECOGNITION_THRESHOLD": (0.45, float),
    "UPLOAD_MAX_MB": (20, int),
    "MAX_IMAGE_PIXELS": (40_000_000, int),
    "LOAD_MODELS": (True, _bool),
    "SESSION_COOKIE_SECURE": (False, _bool),
}


def normalize_database_url(url: str) -> str:
    """Point PostgreSQL URLs at the psycopg 3 driver that the project installs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _instance_secret(instance_path: Path) -> str:
    """Return a secret key kept in the instance folder, creating it once (single-host default)."""
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def load_settings(instance_path: Path, environ=None, override: dict | None = None) -> dict:
    """Build the Flask config from defaults, the environment and an override; fail on bad values."""
    environ = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for name, (default, parse) in ENV_SETTINGS.items():
        if name in environ and environ[name] != "":
            try:
                raw[name] = parse(environ[name])
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from exc
        else:
            raw[name] = default
    raw.update(override or {})

    if raw["DEVICE"] not in {"auto", "cpu", "cuda"}:
        raise ConfigError(f"DEVICE must be auto, cpu or cuda, not {raw['DEVICE']!r}")
    try:
        ZoneInfo(str(raw["SITE_TIMEZONE"]))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"SITE_TIMEZONE: unknown timezone {raw['SITE_TIMEZONE']!r}") from exc
    if not 0.0 < float(raw["RECOGNITION_THRESHOLD"]) < 1.0:
        raise ConfigError("RECOGNITION_THRESHOLD must be between 0 and 1 (cosine similarity)")

    database_url = raw["DATABASE_URL"] or f"sqlite:///{instance_path / 'app.db'}"
    config = {
        **raw,
        "SECRET_KEY": raw["SECRET_KEY"] or _instance_secret(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalize_database_url(str(database_url)),
        "MODEL_DIR": str(raw["MODEL_DIR"] or instance_path / "models"),
        "MEDIA_DIR": str(raw["MEDIA_DIR"] or instance_path / "media"),
        "MAX_CONTENT_LENGTH": int(raw["UPLOAD_MAX_MB"]) * 1024 * 1024,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": raw["SITE_TIMEZONE"],
        "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "translations"),
        "LANGUAGES": ("en", "ko"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
    }
    return config
