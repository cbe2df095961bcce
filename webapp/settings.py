"""Configuration in layers: defaults, the environment, then a test override; checked at start."""

from __future__ import annotations

import os
import secrets
from datetime import time, timedelta
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


def parse_clock(value: str) -> time:
    """Parse a wall-clock time written HH:MM (24-hour)."""
    try:
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise ValueError(f"not a time of day as HH:MM: {value!r}") from exc


def parse_workdays(value: str) -> str:
    """Parse working weekdays written as ISO digits, Monday=1 … Sunday=7 (e.g. "12345")."""
    digits = "".join(sorted(set(value.replace(",", "").strip())))
    if not digits or any(ch not in "1234567" for ch in digits):
        raise ValueError(f"not weekdays as digits 1-7 (Monday=1): {value!r}")
    return digits


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"not DEBUG, INFO, WARNING or ERROR: {value!r}")
    return level


ENV_SETTINGS: dict[str, tuple[object, object]] = {
    "SECRET_KEY": (None, str),
    "DATABASE_URL": (None, str),
    "MODEL_DIR": (None, str),
    "MEDIA_DIR": (None, str),
    "DEVICE": ("auto", str),
    "REDIS_URL": (None, str),
    "SITE_TIMEZONE": ("Asia/Seoul", str),
    "RECOGNITION_THRESHOLD": (0.45, float),
    # "box" (one FaceNet pass per face) or "box+landmarks" (two views, ~2x FaceNet time, wider
    # open-set margins; templates are re-made with `flask employees reembed`): docs/recognition.md
    "RECOGNITION_VIEWS": ("box", str),
    # MTCNN and FaceNet: "auto" (OpenVINO on the CPU, TensorFlow on a GPU), "openvino" or
    # "tensorflow" (the Keras reference); FaceNet's precision "f32" or "bf16" (OpenVINO only, a
    # pipeline version of its own: `flask employees reembed`). docs/recognition.md#runtimes
    "RECOGNITION_RUNTIME": ("auto", str),
    "RECOGNITION_PRECISION": ("f32", str),
    # An operator's ONNX face-recognition model (ArcFace-style) in FaceNet's place, relative to
    # MODEL_DIR or absolute; empty: FaceNet. docs/recognition.md#an-operators-recognition-model
    "RECOGNITION_MODEL": ("", str),
    "UPLOAD_MAX_MB": (20, int),
    "MAX_IMAGE_PIXELS": (40_000_000, int),
    "LOAD_MODELS": (True, _bool),
    "SESSION_COOKIE_SECURE": (False, _bool),  # true behind HTTPS (Nginx); cookies then need TLS
    # Production: proxies in front whose X-Forwarded-* headers are trusted (1 behind Nginx), the
    # internal Nginx location that serves media after a permission check (X-Accel-Redirect), the
    # page policy, how long "keep me logged in" lasts, and the failed-login limits.
    "TRUSTED_PROXIES": (0, int),
    "MEDIA_ACCEL_REDIRECT": ("", str),
    "CONTENT_SECURITY_POLICY": (
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'",
        str,
    ),
    "REMEMBER_DAYS": (14, int),
    "LOGIN_LIMIT_PER_ACCOUNT": ("10 per 15 minutes", str),
    "LOGIN_LIMIT_PER_IP": ("30 per 15 minutes", str),
    "API_AUTH_LIMIT_PER_IP": ("60 per 15 minutes", str),
    "LOG_LEVEL": ("INFO", _log_level),  # the console's level; libraries stay quieter
    # Kiosk check-in: frames a kiosk sends per second, how long (ms, and in at least how many
    # frames) a gesture must be held, seconds without progress before an attempt ends, a fixed
    # challenge (e.g. "capture,O") for tests, and the optional in-browser pose (off: the page
    # draws the skeleton the server found).
    "KIOSK_FPS": (4, int),
    "KIOSK_HOLD_FRAMES": (2, int),
    "KIOSK_HOLD_MS": (500, int),
    "KIOSK_BROWSER_POSE": (False, _bool),
    "KIOSK_TIMEOUT_SECONDS": (20.0, float),
    "KIOSK_RESULT_SECONDS": (4.0, float),  # how long a result stays on the screen
    "KIOSK_CHALLENGE": (None, str),
    # Attendance review: similarity below REJECT is not accepted, at or above ACCEPT counts at
    # once, in between waits for an admin; a repeat punch within the window is a duplicate.
    "REVIEW_ACCEPT_THRESHOLD": (0.60, float),
    "REVIEW_REJECT_THRESHOLD": (0.45, float),
    "DUPLICATE_WINDOW_SECONDS": (120, int),
    # The site's default work schedule; departments and employees may have their own.
    "WORK_DAY_START": (time(9, 0), parse_clock),
    "WORK_DAY_END": (time(18, 0), parse_clock),
    "WORK_DAYS": ("12345", parse_workdays),
    "LATE_GRACE_MINUTES": (0, int),
    "MAX_SHIFT_HOURS": (16, int),  # a check-in without check-out after this long is "forgotten"
    # Retention of biometric data, in days (`flask retention run`).
    "RETENTION_INACTIVE_DAYS": (30, int),
    "RETENTION_PROOF_PHOTO_DAYS": (90, int),
    # Studio: upload limits, jobs one worker runs at once, and when a silent job counts as lost
    # (its worker died): then it is queued again until it has been tried STUDIO_MAX_ATTEMPTS times.
    "STUDIO_MAX_UPLOAD_MB": (200, int),
    "STUDIO_MAX_VIDEO_SECONDS": (60.0, float),
    "STUDIO_MAX_VIDEO_PIXELS": (1920 * 1080, int),
    "STUDIO_WORKER_THREADS": (2, int),
    "STUDIO_HEARTBEAT_SECONDS": (5.0, float),
    "STUDIO_STALE_SECONDS": (60.0, float),
    "STUDIO_MAX_ATTEMPTS": (2, int),
    # The anonymizer's face bank (default MODEL_DIR/facebank); a studio worker fills its default
    # bank of generated faces at start when FACEBANK_AUTOFILL is on (docs/face-bank.md).
    "FACEBANK_DIR": (None, str),
    "FACEBANK_AUTOFILL": (True, _bool),
    "GENERATOR_PSI": (0.7, float),  # truncation of generated faces: 1 varied, 0 the average face
    # Face swap onto a generated person: candidate lists a client may ask for (each may queue
    # more faces for a worker), and whether consented real donors of the bank are offered too.
    "STUDIO_PEOPLE_LIMIT": ("120 per minute", str),
    "STUDIO_SWAP_CONSENTED_DONORS": (False, _bool),
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


def _check_attendance_settings(raw: dict) -> None:
    """Fail on review thresholds, schedules and retention periods that cannot work."""
    for name in ("REVIEW_ACCEPT_THRESHOLD", "REVIEW_REJECT_THRESHOLD"):
        if not 0.0 <= float(raw[name]) <= 1.0:
            raise ConfigError(f"{name} must be between 0 and 1 (cosine similarity)")
    if float(raw["REVIEW_REJECT_THRESHOLD"]) > float(raw["REVIEW_ACCEPT_THRESHOLD"]):
        raise ConfigError("REVIEW_REJECT_THRESHOLD must not be above REVIEW_ACCEPT_THRESHOLD")
    for name in (
        "DUPLICATE_WINDOW_SECONDS",
        "LATE_GRACE_MINUTES",
        "RETENTION_INACTIVE_DAYS",
        "RETENTION_PROOF_PHOTO_DAYS",
    ):
        if int(raw[name]) < 0:
            raise ConfigError(f"{name} must not be negative")
    if not 1 <= int(raw["MAX_SHIFT_HOURS"]) <= 48:
        raise ConfigError("MAX_SHIFT_HOURS must be between 1 and 48")
    for name, parse in (("WORK_DAY_START", parse_clock), ("WORK_DAY_END", parse_clock)):
        if isinstance(raw[name], str):  # a test override may give "HH:MM"
            try:
                raw[name] = parse(raw[name])
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from exc
    if raw["WORK_DAY_START"] == raw["WORK_DAY_END"]:
        raise ConfigError("WORK_DAY_START and WORK_DAY_END must differ")
    try:
        raw["WORK_DAYS"] = parse_workdays(str(raw["WORK_DAYS"]))
    except ValueError as exc:
        raise ConfigError(f"WORK_DAYS: {exc}") from exc


def _check_studio_settings(raw: dict) -> None:
    """Fail on studio limits and timings that cannot work."""
    for name in (
        "STUDIO_MAX_UPLOAD_MB",
        "STUDIO_MAX_VIDEO_SECONDS",
        "STUDIO_MAX_VIDEO_PIXELS",
        "STUDIO_WORKER_THREADS",
        "STUDIO_HEARTBEAT_SECONDS",
        "STUDIO_MAX_ATTEMPTS",
    ):
        if float(raw[name]) <= 0:
            raise ConfigError(f"{name} must be positive")
    if not 0.0 <= float(raw["GENERATOR_PSI"]) <= 1.5:
        raise ConfigError("GENERATOR_PSI must be between 0 and 1.5")
    if float(raw["STUDIO_STALE_SECONDS"]) < 3 * float(raw["STUDIO_HEARTBEAT_SECONDS"]):
        raise ConfigError("STUDIO_STALE_SECONDS must be at least 3 x STUDIO_HEARTBEAT_SECONDS")


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
    if not 1 <= int(raw["KIOSK_FPS"]) <= 15 or not 1 <= int(raw["KIOSK_HOLD_FRAMES"]) <= 30:
        raise ConfigError("KIOSK_FPS must be 1-15 and KIOSK_HOLD_FRAMES 1-30")
    if not 0 <= int(raw["KIOSK_HOLD_MS"]) <= 10_000:
        raise ConfigError("KIOSK_HOLD_MS must be 0-10000 (milliseconds)")
    if raw["KIOSK_CHALLENGE"]:
        steps = [step.strip() for step in str(raw["KIOSK_CHALLENGE"]).split(",")]
        allowed = {"O", "capture", "standby"}
        if steps[-1] != "O" or any(step not in allowed for step in steps):
            raise ConfigError("KIOSK_CHALLENGE must list O, capture or standby and end with O")
    if not 0.0 < float(raw["RECOGNITION_THRESHOLD"]) < 1.0:
        raise ConfigError("RECOGNITION_THRESHOLD must be between 0 and 1 (cosine similarity)")
    if raw["RECOGNITION_VIEWS"] not in ("box", "box+landmarks"):
        raise ConfigError("RECOGNITION_VIEWS must be box or box+landmarks")
    if raw["RECOGNITION_RUNTIME"] not in ("auto", "openvino", "tensorflow"):
        raise ConfigError("RECOGNITION_RUNTIME must be auto, openvino or tensorflow")
    if raw["RECOGNITION_PRECISION"] not in ("f32", "bf16"):
        raise ConfigError("RECOGNITION_PRECISION must be f32 or bf16")
    if raw["RECOGNITION_MODEL"] and raw["RECOGNITION_VIEWS"] != "box":
        raise ConfigError("RECOGNITION_MODEL runs on RECOGNITION_VIEWS=box only")
    if raw["RECOGNITION_PRECISION"] == "bf16" and raw["RECOGNITION_RUNTIME"] == "tensorflow":
        raise ConfigError("RECOGNITION_PRECISION=bf16 needs RECOGNITION_RUNTIME auto or openvino")
    _check_attendance_settings(raw)
    _check_studio_settings(raw)

    database_url = raw["DATABASE_URL"] or f"sqlite:///{instance_path / 'app.db'}"
    config = {
        **raw,
        "SECRET_KEY": raw["SECRET_KEY"] or _instance_secret(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalize_database_url(str(database_url)),
        # A connection the database dropped (restart, failover) is noticed before it is used.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "MODEL_DIR": str(raw["MODEL_DIR"] or instance_path / "models"),
        "MEDIA_DIR": str(raw["MEDIA_DIR"] or instance_path / "media"),
        "MAX_CONTENT_LENGTH": int(raw["UPLOAD_MAX_MB"]) * 1024 * 1024,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": raw["SITE_TIMEZONE"],
        "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "translations"),
        "LANGUAGES": ("en", "ko"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_DURATION": timedelta(days=int(raw["REMEMBER_DAYS"])),
        "REMEMBER_COOKIE_SECURE": bool(raw["SESSION_COOKIE_SECURE"]),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
    }
    return config
