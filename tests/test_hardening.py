"""Hardening found by a probe: login throttling, session rotation, timing of unknown accounts,
security headers, control characters in names, malformed query values, a locked database and an
unwritable media folder - each answers a clear 4xx/5xx, never a 500, and stores nothing."""

from __future__ import annotations

import errno
import io
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.admin_helpers import add_employee
from tests.conftest import _app_from
from tests.studio_helpers import bearer, encode, make_token, photo
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD, create_user, login, make_kiosk


def _cookies(response) -> dict[str, SimpleCookie]:
    jar = {}
    for header in response.headers.getlist("Set-Cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            jar[name] = morsel
    return jar


def _post_login(client, password, email=ADMIN_EMAIL, **extra):
    return client.post("/login", data={"email": email, "password": password, **extra})


# -- login throttling ----------------------------------------------------------------------------
def test_wrong_passwords_lock_the_account_then_429(tmp_path, migrated_db):
    app = _app_from(tmp_path / "i", migrated_db, LOGIN_LIMIT_PER_ACCOUNT="5 per 15 minutes")
    create_user(app)
    client = app.test_client()
    assert [_post_login(client, "wrong-one").status_code for _ in range(5)] == [401] * 5
    locked = _post_login(client, ADMIN_PASSWORD)  # the right one, too late
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "Too many attempts" in locked.get_data(as_text=True)
    assert "text/html" in locked.content_type
    # The same e-mail in another case is the same account; another account is not locked.
    assert _post_login(client, "x", email=ADMIN_EMAIL.upper()).status_code == 429
    create_user(app, "other@example.com", "other-password", role="studio")
    assert _post_login(client, "other-password", email="other@example.com").status_code == 302


def test_many_accounts_from_one_address_hit_the_ip_limit(tmp_path, migrated_db):
    app = _app_from(tmp_path / "i", migrated_db, LOGIN_LIMIT_PER_IP="4 per 15 minutes")
    create_user(app)
    client = app.test_client()
    statuses = [
        _post_login(client, "nope", email=f"user{i}@example.com").status_code for i in range(4)
    ]
    assert statuses == [401] * 4
    assert _post_login(client, ADMIN_PASSWORD).status_code == 429
    # Another client address (as Nginx reports it) is not affected.
    other = app.test_client()
    response = other.post(
        "/login",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert response.status_code == 302


def test_failed_api_tokens_are_throttled_with_json(tmp_path, migrated_db):
    app = _app_from(tmp_path / "i", migrated_db, API_AUTH_LIMIT_PER_IP="3 per 15 minutes")
    create_user(app, "pix@example.com", "pix-password", role="studio")
    good = bearer(make_token(app, "pix@example.com"))
    client = app.test_client()
    bad = bearer("not-a-token")
    assert [client.get("/api/v1/studio/jobs", headers=bad).status_code for _ in range(3)] == [
        401
    ] * 3
    limited = client.get("/api/v1/studio/jobs", headers=good)
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    assert limited.get_json()["error"] == "too_many_requests"


def test_successful_logins_and_api_calls_never_count(tmp_path, migrated_db):
    app = _app_from(tmp_path / "i", migrated_db, LOGIN_LIMIT_PER_ACCOUNT="2 per 15 minutes")
    create_user(app)
    for _ in range(5):
        client = app.test_client()
        assert _post_login(client, ADMIN_PASSWORD).status_code == 302


# -- sessions ------------------------------------------------------------------------------------
def test_logout_ends_copied_session_and_remember_cookies(app):
    create_user(app)
    client = app.test_client()
    response = _post_login(client, ADMIN_PASSWORD, remember="y")
    cookies = _cookies(response)
    session, remember = cookies["session"].value, cookies["remember_token"].value
    assert client.get("/admin/employees").status_code == 200

    client.post("/logout")
    thief = app.test_client()
    thief.set_cookie("session", session)
    assert thief.get("/admin/employees").status_code == 302  # to the login page
    thief = app.test_client()
    thief.set_cookie("remember_token", remember)
    assert thief.get("/admin/employees").status_code == 302
    # A new login gets a different remember cookie.
    again = _cookies(_post_login(app.test_client(), ADMIN_PASSWORD, remember="y"))
    assert again["remember_token"].value != remember


def test_password_change_logs_out_every_session(app):
    create_user(app)
    first = login(app.test_client())
    assert first.get("/admin/employees").status_code == 200
    result = app.test_cli_runner().invoke(
        args=["users", "set-password", ADMIN_EMAIL, "--password", "brand-new-password"]
    )
    assert result.exit_code == 0, result.output
    assert first.get("/admin/employees").status_code == 302
    assert _post_login(app.test_client(), ADMIN_PASSWORD).status_code == 401
    assert _post_login(app.test_client(), "brand-new-password").status_code == 302


def test_cookies_are_configured(tmp_path, migrated_db):
    app = _app_from(tmp_path / "i", migrated_db, SESSION_COOKIE_SECURE=True)
    create_user(app)
    client = app.test_client()
    response = client.post(
        "/login",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "remember": "y"},
        base_url="https://localhost",
    )
    cookies = _cookies(response)
    remember = cookies["remember_token"]
    assert remember["secure"] and remember["httponly"] and remember["samesite"] == "Lax"
    expires = parsedate_to_datetime(remember["expires"])
    assert timedelta(days=13) < expires - datetime.now(UTC) <= timedelta(days=14)
    assert cookies["session"]["secure"] and cookies["session"]["httponly"]


def test_unknown_accounts_cost_a_password_hash_too(app, monkeypatch):
    """Unknown and known accounts both verify one password hash (no timing oracle)."""
    from webapp.auth import models, services

    calls = []
    real = services.check_password_hash

    def counting(hashed, password):
        calls.append(hashed[:6])
        return real(hashed, password)

    monkeypatch.setattr(services, "check_password_hash", counting)
    monkeypatch.setattr(models, "check_password_hash", counting)
    create_user(app)
    client = app.test_client()
    assert _post_login(client, "whatever-pw", email="nobody@example.com").status_code == 401
    assert _post_login(client, "whatever-pw").status_code == 401
    assert len(calls) == 2 and calls[0] == calls[1]  # the same hash method both times


def test_cli_and_login_form_share_one_email_rule(app, runner):
    refused = runner.invoke(
        args=["users", "create-admin", "boss@example.test", "--password", "long-enough"]
    )
    assert refused.exit_code != 0 and "not a usable e-mail address" in refused.output
    made = runner.invoke(
        args=["users", "create-admin", "Boss@Example.com", "--password", "long-enough"]
    )
    assert made.exit_code == 0, made.output
    assert _post_login(app.test_client(), "long-enough", email="boss@example.com").status_code == (
        302
    )


# -- headers -------------------------------------------------------------------------------------
def test_pages_and_api_answers_carry_security_headers(client):
    for url in ("/login", "/kiosk", "/api/v1/kiosk/config", "/nowhere"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "'wasm-unsafe-eval'" in csp, url
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"


# -- names ---------------------------------------------------------------------------------------
def test_control_characters_in_names_are_refused(app):
    from webapp.employees.services import create_employee
    from webapp.errors import AppError

    with app.app_context():
        for bad in ("Bell\x07Boy", "Tab\tName", "Zero\u200bWidth", "Esc\x1b[31m"):
            with pytest.raises(AppError) as caught:
                create_employee(bad)
            assert caught.value.code == "invalid_name" and caught.value.status == 400
        assert create_employee("  Kim Min-ji  ").name == "Kim Min-ji"
    create_user(app)
    client = login(app.test_client())
    page = client.post("/admin/employees/new", data={"name": "Evil\x00Name"})
    assert "control or invisible characters" in page.get_data(as_text=True)


def test_xlsx_export_survives_a_stored_control_character(app):
    add_employee(app, "Old\x07Record", department="Ops")
    create_user(app)
    client = login(app.test_client())
    response = client.get("/admin/reports/daily.xlsx")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    assert any("OldRecord" in (cell or "") for row in rows for cell in row if isinstance(cell, str))


# -- malformed input -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "/admin/records?page=%C2%B2",
        "/admin/records?employee=99999999999999999999",
        "/admin/records?to=9999-12-31",
        "/admin/records?from=0001-01-01",
        "/admin/records?from=yesterday",
        "/admin/reports/daily?day=0001-01-01",
        "/admin/reports/daily?day=%D9%A1%D9%A1",
        "/admin/reports/monthly?month=9999-12",
        "/admin/reports/monthly?month=2026-13",
        "/admin/records/new?employee=%C2%B2",
    ],
)
def test_malformed_admin_query_values_are_a_400_with_a_message(app, url):
    create_user(app)
    client = login(app.test_client())
    response = client.get(url)
    assert response.status_code == 400, response.data[:300]
    assert "must be" in response.get_data(as_text=True)
    api = client.get(url, headers={"Accept": "application/json"})
    assert api.status_code == 400 and api.get_json()["error"] == "invalid_parameter"


@pytest.mark.parametrize("value", ["abc", "%C2%B2", "99999999999999999999", "-1"])
def test_bad_gesture_model_value_is_a_400(app, value):
    from urllib.parse import unquote

    create_user(app)
    kiosk_token = make_kiosk(app)
    assert kiosk_token
    client = login(app.test_client())
    response = client.post(
        "/admin/kiosks/1/gesture-model",
        data={"model": unquote(value)},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_parameter"


@pytest.mark.parametrize(
    "path", ["/api/v1/studio/media/99999999999999999999", "/api/v1/studio/media/%C2%B2"]
)
def test_ids_that_cannot_exist_are_404_not_a_database_error(tmp_path, migrated_db, path):
    app = _app_from(tmp_path / "i", migrated_db)
    create_user(app, "pix@example.com", "pix-password", role="studio")
    headers = bearer(make_token(app, "pix@example.com"))
    response = app.test_client().get(path, headers=headers)
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_kiosk_direction_with_a_json_list_is_a_400(app):
    token = make_kiosk(app)
    client = app.test_client()
    headers = {"X-Kiosk-Token": token}
    session = client.post("/api/v1/kiosk/sessions", headers=headers).get_json()
    for body in ([], ["check_out"], "check_out", 5):
        response = client.post(
            f"/api/v1/kiosk/sessions/{session['session_id']}/direction", json=body, headers=headers
        )
        assert response.status_code == 400, body
        assert response.get_json()["error"] == "invalid_direction"


# -- a locked database ---------------------------------------------------------------------------
@pytest.mark.slow
def test_a_database_locked_past_the_busy_timeout_answers_503_on_kiosk_frames(app, loaded_models):
    """Another process holds the write lock for 20 s: frames answer 503 with Retry-After;
    reading the kiosk's config still works and writes nothing."""
    token = make_kiosk(app)
    client = app.test_client()
    headers = {"X-Kiosk-Token": token}
    session = client.post("/api/v1/kiosk/sessions", headers=headers).get_json()
    db_path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        connection = sqlite3.connect(db_path, timeout=1)
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(30)
        connection.rollback()
        connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(5)
        with app.app_context():
            from webapp.attendance.models import Kiosk
            from webapp.extensions import db

            before = db.session.get(Kiosk, 1).last_seen_at
        started = time.monotonic()
        config = client.get("/api/v1/kiosk/config", headers=headers)
        assert config.status_code == 200 and time.monotonic() - started < 5
        frame = encode(photo("madonna"))
        response = client.post(
            f"/api/v1/kiosk/sessions/{session['session_id']}/frames",
            data={"frame": (io.BytesIO(frame), "f.jpg")},
            headers=headers,
        )
        assert response.status_code == 503, response.data[:300]
        assert response.headers["Retry-After"] == "5"
        assert response.get_json()["error"] == "database_unavailable"
    finally:
        release.set()
        holder.join()
    with app.app_context():
        assert db.session.get(Kiosk, 1).last_seen_at == before
    after = client.get("/api/v1/kiosk/config", headers=headers)
    assert after.status_code == 200


# -- media folder --------------------------------------------------------------------------------
def test_enrollment_into_an_unwritable_media_folder_answers_503_and_stores_nothing(
    tmp_path, migrated_db, loaded_models
):
    app = _app_from(tmp_path / "i", migrated_db)
    app.config["MEDIA_DIR"] = "/sys/face-platform-media"  # sysfs refuses mkdir
    if Path("/sys/face-platform-media").exists():
        pytest.fail("/sys/face-platform-media exists: cannot simulate an unwritable folder")
    with app.app_context():
        from webapp.employees.services import create_employee

        employee_id = create_employee("Madonna").id
    create_user(app)
    client = login(app.test_client())
    response = client.post(
        f"/admin/employees/{employee_id}/photos",
        data={
            "photos": [(io.BytesIO(encode(photo("madonna", 0, "train"))), "m.jpg")],
            "consent": "y",
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 503, response.data[:300]
    assert response.get_json()["error"] == "storage_unavailable"
    with app.app_context():
        from sqlalchemy import func, select

        from webapp.employees.models import EnrollmentPhoto, FaceTemplate
        from webapp.extensions import db

        assert db.session.scalar(select(func.count(EnrollmentPhoto.id))) == 0
        assert db.session.scalar(select(func.count(FaceTemplate.id))) == 0


def test_a_full_media_folder_is_507():
    from webapp.media import storage_error

    full = storage_error(OSError(errno.ENOSPC, "No space left on device"))
    assert (full.status, full.code) == (507, "storage_full")
    read_only = storage_error(OSError(errno.EROFS, "Read-only file system"))
    assert (read_only.status, read_only.code) == (503, "storage_unavailable")
