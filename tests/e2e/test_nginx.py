"""The platform behind Nginx over HTTPS, as deployed: routing, headers, X-Accel media, kiosk."""

from __future__ import annotations

import gzip
import re
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.test_kiosk_page import (
    STILLS,
    events,
    open_kiosk,
    rgb_frame,
    wait_seen,
    write_y4m,
)
from tests.e2e.test_kiosk_page import kiosk_token as kiosk_token
from tests.proxy import BEHIND_NGINX, NginxFront
from tests.studio_helpers import encode, two_people
from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD, ROOT

pytestmark = pytest.mark.slow

# Read by the conftest's `server` fixture: gunicorn as `make run-nginx` runs it, plus a quick
# fixed kiosk challenge.
SERVER_ENV = {
    **BEHIND_NGINX,
    "KIOSK_CHALLENGE": "capture,O",
    "KIOSK_HOLD_FRAMES": "2",
    "KIOSK_FPS": "4",
    "LOGIN_LIMIT_PER_ACCOUNT": "5 per 15 minutes",
    # The in-page MediaPipe pose runs (at least once) so its wasm is fetched from Nginx and
    # compiled under the page's CSP; it switches itself off when slow.
    "KIOSK_BROWSER_POSE": "true",
}
WASM = next((ROOT / "static" / "vendor" / "mediapipe-pose").glob("*.wasm"))
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@pytest.fixture(scope="module")
def front(server):
    """Nginx before the module's gunicorn, on free loopback ports, with a fresh certificate."""
    with NginxFront(server) as front:
        yield front


def client(front) -> requests.Session:
    """A client that trusts the generated certificate and nothing else (no proxies, no
    REQUESTS_CA_BUNDLE from the environment)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(front.cert)
    return session


@pytest.fixture()
def http(front) -> requests.Session:
    """A fresh HTTPS client for one test."""
    return client(front)


def login(http, front, email=ADMIN_EMAIL, password=ADMIN_PASSWORD) -> requests.Response:
    """Log in through the form over HTTPS."""
    page = http.get(f"{front.url}/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    token = token or re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    return http.post(
        f"{front.url}/login",
        data={"email": email, "password": password, "csrf_token": token[1]},
        headers={"Referer": f"{front.url}/login"},  # as a browser sends it (same origin)
        allow_redirects=False,
    )


def gunicorn_saw(server, path: str, wait: float = 0.0) -> bool:
    """True when the request reached gunicorn (its access log names it).

    gunicorn writes the access line after the response has gone out, so a test that expects
    the line waits a moment for it.
    """
    deadline = time.monotonic() + wait
    while True:
        if any(p == path for _, _, p, _ in server.access_log()):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def test_http_redirects_to_https(front):
    response = requests.get(f"{front.http_url}/kiosk?x=1", allow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["Location"] == f"{front.url}/kiosk?x=1"


def test_static_files_come_from_nginx_with_wasm_type_and_gzip(server, front, http):
    path = f"/static/vendor/mediapipe-pose/{WASM.name}"
    response = http.get(f"{front.url}{path}", headers={"Accept-Encoding": "gzip"}, stream=True)
    raw = response.raw.read(decode_content=False)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/wasm"
    assert response.headers.get("Content-Encoding") == "gzip"
    assert gzip.decompress(raw) == WASM.read_bytes()
    for name, value in HEADERS.items():
        assert response.headers[name] == value
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]
    css = http.get(f"{front.url}/static/css/app.css")
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert not gunicorn_saw(server, path) and not gunicorn_saw(server, "/static/css/app.css")


def test_pages_have_security_headers_and_secure_cookies(server, front, http):
    page = http.get(f"{front.url}/login")
    assert page.status_code == 200 and gunicorn_saw(server, "/login", wait=5)
    for name, value in HEADERS.items():
        assert page.headers[name] == value, name
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "Strict-Transport-Security" in page.headers
    assert "Server" not in page.headers or "nginx/" not in page.headers["Server"]
    response = login(http, front)
    assert response.status_code == 302
    cookie = next(c for c in http.cookies if c.name == "session")
    assert cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
    health = http.get(f"{front.url}/healthz").json()
    assert health["status"] == "ok" and health["device"]


def test_media_only_through_flask_permission_check(server, front, http):
    """Studio media go out through X-Accel-Redirect; another user and a direct URL get nothing."""
    server.cli("users", "create", "one@example.com", "--role", "studio", "--password", "pw-one-123")
    server.cli("users", "create", "two@example.com", "--role", "studio", "--password", "pw-two-123")
    one = server.cli("users", "token", "one@example.com").strip().splitlines()[-1]
    two = server.cli("users", "token", "two@example.com").strip().splitlines()[-1]
    photo = encode(two_people())
    created = http.post(
        f"{front.url}/api/v1/studio/media",
        files={"media": ("scene.jpg", photo, "image/jpeg")},
        headers={"Authorization": f"Bearer {one}"},
    )
    assert created.status_code == 201, created.text
    file_url = f"{front.url}/api/v1/studio/media/{created.json()['id']}/file"
    mine = http.get(file_url, headers={"Authorization": f"Bearer {one}"})
    assert mine.status_code == 200 and mine.content == photo
    assert mine.headers["Content-Type"] == "image/jpeg"
    assert mine.headers["Cache-Control"] == "private, no-cache"  # Flask's, kept by Nginx
    assert "sandbox" in mine.headers["Content-Security-Policy"]
    assert "X-Accel-Redirect" not in mine.headers
    ranged = http.get(file_url, headers={"Authorization": f"Bearer {one}", "Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.content == photo[:10]
    # Nginx sent the file: gunicorn's answer was an empty body with the internal path.
    assert gunicorn_saw(server, file_url.removeprefix(front.url), wait=5)
    stored = next((server.instance / "media").rglob("*.jpg"))
    assert stored.read_bytes() == photo

    theirs = http.get(file_url, headers={"Authorization": f"Bearer {two}"})
    assert theirs.status_code == 404 and theirs.content != photo
    assert theirs.headers["Content-Type"].startswith("application/json")
    nobody = http.get(file_url)
    assert nobody.status_code == 401 and nobody.content != photo
    relative = stored.relative_to(server.instance / "media").as_posix()
    direct = http.get(f"{front.url}/_media/{relative}")
    assert direct.status_code == 404 and direct.content != photo
    escape = http.get(f"{front.url}/static/../instance/secret_key")
    assert escape.status_code in (400, 404) and b"system-test" not in escape.content


def test_login_is_throttled_per_account_through_nginx(front):
    """Wrong passwords for one account: 401s, then 429 with Retry-After, even the right one."""
    session = client(front)
    statuses = [login(session, front, password="wrong-password").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    right = login(session, front)
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0
    assert "Too many attempts" in right.text


def test_kiosk_checks_in_over_https(server, front, kiosk_token, chromium, tmp_path):
    """The kiosk page over HTTPS through Nginx (certificate errors ignored): one check-in."""
    still = {g: rgb_frame(STILLS / f"v1_waist_{g}.jpg") for g in ("standby", "capture", "O")}
    video = write_y4m(
        tmp_path / "v1.y4m",
        # Longer holds than test_kiosk_page: TLS and Nginx add little, but a busy machine
        # answers fewer frames a second and each gesture must be seen in 2 frames in a row.
        [(still["standby"], 3), (still["capture"], 6), (still["O"], 6), (still["standby"], 4)],
    )
    before = len(events(server))
    context, page, uncaught = open_kiosk_https(chromium, video)
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{front.url}/kiosk")
    assert page.evaluate("window.isSecureContext") is True
    expect(page.locator("#setup")).to_be_visible()
    page.locator("#token-input").fill(kiosk_token)
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#screen")).to_be_visible()
    # MediaPipe's wasm, fetched from Nginx, runs under the page's CSP.
    # An arrow function: a bare expression would be eval()ed in the page, which the CSP refuses.
    page.wait_for_function("() => window.kioskDebug.poseResults > 0", timeout=90_000)
    assert uncaught == [] and violations == [], (uncaught, violations)
    try:
        wait_seen(page, "Victor One, checked in at", timeout=150_000)
    except Exception as exc:
        state = page.evaluate("window.kioskDebug.lastState")
        raise AssertionError(f"no check-in; last state {state}; CSP: {violations}") from exc
    assert uncaught == [] and violations == [], (uncaught, violations)
    context.close()
    Path(video).unlink()
    new = events(server)[before:]
    assert [(name, kind) for _, name, kind, _, _ in new] == [("Victor One", "check_in")]
    assert "POST /api/v1/kiosk/" in front.access_log()


def open_kiosk_https(chromium, video: Path):
    """The kiosk browser of test_kiosk_page, told to accept the self-signed certificate."""
    return open_kiosk(lambda *args: chromium(*args, "--ignore-certificate-errors"), video)
