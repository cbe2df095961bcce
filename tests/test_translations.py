"""Korean everywhere: every UI string has a translation, and no page shows catalogue English."""

from __future__ import annotations

import re
import subprocess
from html import unescape

import pytest
from babel.messages.pofile import read_po

from tests.admin_helpers import add_employee, admin_client_for, punch
from tests.servers import venv_tool
from tests.support import ROOT, make_kiosk

PO = ROOT / "translations" / "ko" / "LC_MESSAGES" / "messages.po"
# The keywords `make messages` extracts with (error messages raised in services are UI text).
KEYWORDS = ["-k", "_l", "-k", "AppError", "-k", "NotFound", "-k", "Forbidden", "-k", "Unauthorized"]


def catalogue():
    with PO.open("rb") as fh:
        return read_po(fh, locale="ko")


def translated(message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings)


def test_every_string_in_the_code_and_templates_has_a_korean_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [venv_tool("pybabel"), "extract", "-F", "babel.cfg", *KEYWORDS, "-o", str(pot), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as fh:
        wanted = read_po(fh)
    ko = catalogue()
    missing = [
        f"{message.id!r} ({message.locations[0][0]})"
        for message in wanted
        if message.id and (message.id not in ko or not translated(ko[message.id]))
    ]
    assert not missing, "untranslated (append them to messages.po):\n" + "\n".join(missing)


def english_needles() -> dict[str, str]:
    """Catalogue English that would give a page away as untranslated: {needle: msgid}."""
    needles = {}
    for message in catalogue():
        if not message.id or not translated(message):
            continue
        for msgid in message.id if isinstance(message.id, tuple) else (message.id,):
            korean = message.string if isinstance(message.string, str) else message.string[0]
            # The longest literal run between placeholders, if it says something on its own.
            part = max(re.split(r"%\(\w+\)[sd]|%[sd]", msgid), key=len).strip(" .,:;()")
            if len(part) >= 12 and " " in part and part not in korean:
                needles[part] = msgid
    return needles


def visible_text(html: str) -> str:
    """What a reader sees: text outside tags, plus titles, placeholders, labels and questions."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    attributes = re.findall(
        r'\b(?:title|placeholder|aria-label|alt|data-confirm)="([^"]*)"', html, flags=re.I
    )
    text = re.sub(r"<[^>]+>", " ", html)
    return unescape(" ".join([text, *attributes]))


@pytest.fixture
def korean_admin(app):
    """An admin reading in Korean, with one of everything for the pages to show."""
    from datetime import UTC, datetime

    client = admin_client_for(app)
    client.get("/lang/ko")
    employee_id = add_employee(app, "Kim Minjun", "Sales")
    event_id = punch(app, employee_id, "check_in", datetime.now(UTC))
    make_kiosk(app)
    client.post("/admin/kiosks", data={"name": "front"})
    return client, employee_id, event_id


def pages(app, employee_id: int, event_id: int) -> list[str]:
    """Every page a browser can open: GET routes without arguments, and a few with one."""
    paths = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods
        and not rule.arguments
        and not rule.rule.startswith(("/api/", "/static", "/lang", "/healthz"))
        and not rule.rule.endswith((".json", ".csv", ".xlsx"))
        and rule.endpoint not in ("auth.logout",)
    }
    paths |= {
        f"/admin/employees/{employee_id}",
        f"/admin/employees/{employee_id}/edit",
        f"/admin/records/{event_id}",
        "/admin/no-such-page",  # the 404 page
        "/studio/jobs/999999",  # a job that does not exist
    }
    return sorted(paths)


def test_every_page_in_korean_shows_no_catalogue_english(app, korean_admin):
    client, employee_id, event_id = korean_admin
    needles = english_needles()
    assert len(needles) > 100  # the check has something to look for
    # The same check on an English page does find English (it can fail).
    english_page = visible_text(client.get("/admin/kiosks?lang=en").get_data(as_text=True))
    assert sum(needle in english_page for needle in needles) >= 5
    found = {}
    visited = 0
    for path in pages(app, employee_id, event_id):
        response = client.get(path, follow_redirects=True)
        if "text/html" not in response.content_type:
            continue
        assert response.status_code in (200, 404), (path, response.status_code)
        visited += 1
        text = visible_text(response.get_data(as_text=True))
        english = sorted(msgid for needle, msgid in needles.items() if needle in text)
        if english:
            found[path] = english
    assert visited >= 20, visited
    assert not found, "English on Korean pages:\n" + "\n".join(
        f"{p}: {e}" for p, e in found.items()
    )


def test_error_pages_and_messages_are_korean(app, korean_admin):
    client, _, _ = korean_admin
    page = client.get("/admin/no-such-page").get_data(as_text=True)
    assert "그런 페이지가 없습니다" in page and "not found" not in page.lower()
    page = client.get("/studio/jobs/999999").get_data(as_text=True)
    assert "그런 작업이 없습니다" in page
    # A flash message from a service's error, and a JSON error for a Korean API client.
    page = client.post("/admin/kiosks", data={"name": "front"}, follow_redirects=True)
    assert "같은 이름의 키오스크가 이미 있습니다" in page.get_data(as_text=True)
    answer = app.test_client().post(
        "/api/v1/kiosk/sessions", headers={"X-Kiosk-Token": "nope", "Accept-Language": "ko"}
    )
    assert answer.status_code == 401 and "키오스크 토큰" in answer.json["message"]
