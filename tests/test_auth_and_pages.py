"""Login, logout, roles on every page, the first admin, and the Korean/English UI."""

from __future__ import annotations

import pytest

from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD, create_user, login

ADMIN_PAGES = ["/admin/", "/admin/employees", "/admin/employees/new", "/admin/recognize"]


def test_login_page_renders_with_a_csrf_protected_form(app):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert 'name="csrf_token"' in page and 'type="password"' in page
    create_user(app)
    # A post without the token is refused, so another site cannot log people in or out.
    response = client.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 400


def test_wrong_password_is_refused_with_a_message(app, client):
    create_user(app)
    response = client.post("/login", data={"email": ADMIN_EMAIL, "password": "nope-nope"})
    assert response.status_code == 401
    assert "Wrong e-mail or password." in response.get_data(as_text=True)


def test_admin_logs_in_sees_employees_and_logs_out(app, client):
    create_user(app)
    response = client.post(
        "/login", data={"email": ADMIN_EMAIL.upper(), "password": ADMIN_PASSWORD}
    )
    assert response.headers["Location"] == "/admin/dashboard"
    assert "Nobody is enrolled yet" in client.get("/admin/employees").get_data(as_text=True)
    response = client.post("/logout", follow_redirects=True)
    assert "You have been logged out." in response.get_data(as_text=True)
    assert client.get("/admin/employees").status_code == 302


def test_login_never_redirects_to_another_site(app, client):
    create_user(app)
    response = client.post(
        "/login?next=https://evil.example/steal",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
    )
    assert response.headers["Location"] == "/admin/dashboard"


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_by_role(app, path):
    anonymous = app.test_client()
    assert anonymous.get(path).status_code == 302
    assert "/login" in anonymous.get(path).headers["Location"]

    create_user(app, "artist@example.com", "studio-password", role="studio")
    studio = login(app.test_client(), "artist@example.com", "studio-password")
    assert studio.get(path).status_code == 403

    create_user(app)
    admin = login(app.test_client())
    assert admin.get(path, follow_redirects=True).status_code == 200


def test_studio_user_lands_in_the_studio(app, client):
    create_user(app, "artist@example.com", "studio-password", role="studio")
    response = client.post(
        "/login", data={"email": "artist@example.com", "password": "studio-password"}
    )
    assert response.headers["Location"] == "/studio/"
    page = client.get("/studio/").get_data(as_text=True)
    assert 'id="studio-form"' in page  # the upload form


def test_deactivated_user_cannot_log_in(app, client):
    from webapp.auth.models import User
    from webapp.extensions import db

    create_user(app)
    with app.app_context():
        db.session.query(User).update({"active": False})
        db.session.commit()
    response = client.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 401


def test_ensure_admin_creates_one_admin_and_prints_the_password_once(app, runner, monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("ADMIN_EMAIL", "boss@example.com")
    first = runner.invoke(args=["users", "ensure-admin"])
    assert first.exit_code == 0
    password = first.output.strip().splitlines()[-1].split(": ")[-1]
    assert "boss@example.com" in first.output and len(password) >= 12
    second = runner.invoke(args=["users", "ensure-admin"])
    assert second.output == ""
    login(app.test_client(), "boss@example.com", password)


def test_ensure_admin_takes_the_password_from_the_environment(app, runner, monkeypatch):
    monkeypatch.setenv("ADMIN_EMAIL", "boss@example.com")
    monkeypatch.setenv("ADMIN_PASSWORD", "from-the-env-1")
    result = runner.invoke(args=["users", "ensure-admin"])
    assert "shown only this once" not in result.output
    login(app.test_client(), "boss@example.com", "from-the-env-1")


def test_cli_creates_users_and_refuses_duplicates_and_short_passwords(app, runner):
    ok = runner.invoke(
        args=["users", "create-admin", "root@example.com", "--password", "long-enough"]
    )
    assert ok.exit_code == 0 and "created admin root@example.com" in ok.output
    again = runner.invoke(args=["users", "create-admin", "root@example.com", "--password", "x" * 9])
    assert again.exit_code != 0 and "already has an account" in again.output
    short = runner.invoke(args=["users", "create", "a@example.com", "--password", "short"])
    assert short.exit_code != 0 and "at least 8 characters" in short.output
    studio = runner.invoke(
        args=["users", "create", "pix@example.com", "--role", "studio", "--password", "long-enough"]
    )
    assert "created studio pix@example.com" in studio.output


def test_kiosk_cli_prints_the_token_once_and_revokes(app, runner):
    created = runner.invoke(args=["kiosks", "create", "front-door"])
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("kiosk_") and len(token) > 40
    listed = runner.invoke(args=["kiosks", "list"]).output
    assert "front-door  active" in listed and token not in listed
    assert runner.invoke(args=["kiosks", "revoke", "front-door"]).exit_code == 0
    assert "front-door  revoked" in runner.invoke(args=["kiosks", "list"]).output
    assert runner.invoke(args=["kiosks", "revoke", "nope"]).exit_code != 0


def test_pages_follow_accept_language_korean(app, client):
    page = client.get("/login", headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"})
    text = page.get_data(as_text=True)
    assert '<html lang="ko">' in text
    assert "로그인" in text and "비밀번호" in text


def test_language_switch_is_remembered(app, client):
    create_user(app)
    login(client)
    client.get("/lang/ko", headers={"Referer": "http://localhost/admin/employees"})
    text = client.get("/admin/employees", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "직원" in text and "로그아웃" in text and "아직 등록된 사람이 없습니다" in text
    client.get("/lang/en")
    text = client.get("/admin/employees").get_data(as_text=True)
    assert "Employees" in text and "Log out" in text


def test_refused_photo_reason_is_shown_in_korean(app, admin_client, loaded_models):
    import io

    from PIL import Image

    employee = admin_client.post("/admin/employees/new", data={"name": "김민수"})
    url = employee.headers["Location"] + "/photos"
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), (200, 200, 200)).save(buffer, format="JPEG")
    admin_client.get("/lang/ko")
    page = admin_client.post(
        url,
        data={"photos": [(io.BytesIO(buffer.getvalue()), "wall.jpg")], "consent": "y"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "wall.jpg: 등록하지 못했습니다. 사진에서 얼굴을 찾지 못했습니다." in page


def test_every_ui_string_has_a_korean_translation(tmp_path):
    """Strings in the code and templates now are all in the Korean catalog, translated."""
    import subprocess
    import sys
    from pathlib import Path

    from babel.messages.pofile import read_po

    from tests.support import ROOT

    pot = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run(
        [pybabel, "extract", "-F", "babel.cfg", "-k", "_l", "-o", pot, "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with open(pot, "rb") as fh:
        wanted = {m.id for m in read_po(fh) if m.id}
    with open(ROOT / "translations/ko/LC_MESSAGES/messages.po", "rb") as fh:
        translated = {m.id for m in read_po(fh) if m.id and m.string}
    assert wanted - translated == set(), "run `make messages` and translate the new strings"


def test_html_errors_are_pages_and_api_errors_are_json(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    api = client.get("/api/v1/no-such-route")
    assert api.status_code == 404 and api.json["error"] == "not_found"
