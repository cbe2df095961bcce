"""Helpers shared by the tests: settings, users, logins and kiosks."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = Path(os.environ.get("MODEL_DIR", ROOT / "instance" / "models"))
DATASET = MODEL_DIR / "5-celebrity-faces-dataset"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct-horse-battery"


def make_config(instance: Path, **extra) -> dict:
    """Test settings: everything under `instance`, models from the shared MODEL_DIR."""
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": f"sqlite:///{instance / 'app.db'}",
        "MODEL_DIR": str(MODEL_DIR),
        "MEDIA_DIR": str(instance / "media"),
        "WTF_CSRF_ENABLED": False,
        **extra,
    }


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy an SQLite database consistently, including what is still in its WAL file."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    dst.close()
    src.close()


def create_user(app, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, role="admin"):
    """Create a user in the app's database."""
    from webapp.auth.models import Role
    from webapp.auth.services import create_user as create

    with app.app_context():
        return create(email, password, Role(role)).id


def login(client, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
    """Log a test client in through the login form."""
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.data[:500]
    return client


def make_kiosk(app, name="lobby") -> str:
    """Register a kiosk and return its token."""
    from webapp.attendance.services import create_kiosk

    with app.app_context():
        return create_kiosk(name)[1]
