"""An admin's flows in a real browser: log in, add and enroll an employee, try recognition."""

from __future__ import annotations

import re

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from tests.support import ADMIN_EMAIL, ADMIN_PASSWORD, DATASET

pytestmark = pytest.mark.slow

# The flows build on each other (one browser tab, one server), so they run in file order.
ENROLL_TIMEOUT = 120_000  # ms: three photos, about 20 templates each, on a shared CPU


def train_photos(person: str, count: int):
    """The first `count` training photos of a person."""
    return sorted((DATASET / "train" / person).glob("*.jpg"))[:count]


def val_photo(person: str):
    """The first validation photo of a person."""
    return sorted((DATASET / "val" / person).glob("*.jpg"))[0]


def nav(page):
    """The main navigation bar."""
    return page.locator("nav.mainnav")


def test_login_shows_an_error_for_a_wrong_password_then_logs_in(server, page):
    """A wrong password shows an error; the right one lands on the dashboard."""
    page.goto(server.url)
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("E-mail").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".flash.error")).to_have_text("Wrong e-mail or password.")

    page.get_by_label("E-mail").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/dashboard$"))
    expect(page.locator(".session .who")).to_have_text(ADMIN_EMAIL)


def test_employees_page_says_nobody_is_enrolled(server, page):
    """Before any enrollment the list is empty and says so."""
    nav(page).get_by_role("link", name="Employees").click()
    expect(page.get_by_role("heading", name="Employees")).to_be_visible()
    expect(page.get_by_text("Nobody is enrolled yet")).to_be_visible()
    expect(page.locator("table.table")).to_have_count(0)


def test_add_an_employee(server, page):
    """Add employee -> the new employee's page with their department."""
    page.get_by_role("link", name="Add employee").click()
    page.get_by_label("Name").fill("Ben Affleck")
    page.get_by_label("Department").fill("Film")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ben Affleck")
    expect(page.locator(".flash.success")).to_contain_text("Employee created")
    expect(page.locator("dl.facts")).to_contain_text("Film")
    expect(page.get_by_text("No photos yet")).to_be_visible()


def test_upload_photos_enrolls_faces_and_names_the_photo_without_one(
    server, page, tmp_path, screenshots
):
    """Three face photos are enrolled and shown; the picture without a face is named in an error."""
    no_face = tmp_path / "beach-no-face.png"
    picture = Image.new("RGB", (480, 320), (135, 190, 230))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 220, 480, 320), fill=(230, 210, 160))
    draw.ellipse((360, 30, 430, 100), fill=(250, 220, 90))
    picture.save(no_face)

    page.locator("#upload-form input[type=file]").set_input_files(
        [*train_photos("ben_afflek", 3), no_face]
    )
    expect(page.get_by_text("No consent is on file")).to_be_visible()
    page.get_by_label("The employee has read the consent text above and agrees").check()
    page.get_by_role("button", name="Upload and enroll").click()
    expect(page.locator(".flash.success")).to_have_text(
        "3 photo(s) enrolled.", timeout=ENROLL_TIMEOUT
    )
    error = page.locator(".flash.error")
    expect(error).to_have_count(1)
    expect(error).to_contain_text("beach-no-face.png")
    expect(error).to_contain_text("No face")
    expect(page.get_by_role("heading", name="Enrolled photos (3)")).to_be_visible()

    images = page.locator(".photo-grid img")
    expect(images).to_have_count(3)
    for index in range(3):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        image.evaluate(
            "img => img.complete && img.naturalWidth ? true"
            " : new Promise((ok, fail) => { img.onload = ok; img.onerror = fail; })"
        )
        assert image.evaluate("img => img.naturalWidth") > 0, image.get_attribute("src")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=screenshots / "employee-page.png", full_page=True)


def test_employee_list_shows_the_photo_count(server, page):
    """The list shows Ben Affleck with 3 photos, enrolled, and the recognizer's version."""
    nav(page).get_by_role("link", name="Employees").click()
    row = page.locator("table.table tbody tr", has_text="Ben Affleck")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(2)).to_have_text("Film")
    expect(row.locator("td").nth(3)).to_have_text("3")
    expect(row.locator("td").nth(4)).to_have_text("Enrolled")
    expect(page.get_by_text("Recognizer version")).to_be_visible()


def recognize(page, photo) -> None:
    """Choose a photo on the Try recognition page and submit it."""
    page.locator("#recognize-form input[type=file]").set_input_files(photo)
    page.locator("#recognize-form button[type=submit]").click()


def test_try_recognition_names_the_enrolled_person_and_not_a_stranger(server, page, screenshots):
    """A new photo of Ben Affleck is named on the canvas and list; Madonna is Unknown."""
    nav(page).get_by_role("link", name="Try recognition").click()
    expect(page.get_by_role("heading", name="Try recognition")).to_be_visible()
    canvas = page.locator("#recognize-canvas")
    results = page.locator("#recognize-results li")

    recognize(page, val_photo("ben_afflek"))
    expect(canvas).to_be_visible(timeout=60_000)
    expect(results.first).to_contain_text("Ben Affleck")
    expect(results.first).to_have_class("known")
    assert page.evaluate("document.getElementById('recognize-canvas').width") > 0
    page.screenshot(path=screenshots / "recognition-page.png", full_page=True)

    recognize(page, val_photo("madonna"))
    expect(results.first).to_contain_text("Unknown", timeout=60_000)
    expect(results.filter(has_text="Ben Affleck")).to_have_count(0)
    expect(canvas).to_be_visible()


def test_korean_labels_then_log_out(server, page):
    """한국어 switches the visible labels to Korean; logging out returns to the login page."""
    page.get_by_role("link", name="한국어").click()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(nav(page).get_by_role("link", name="직원")).to_be_visible()
    expect(nav(page).get_by_role("link", name="인식 테스트")).to_be_visible()
    logout = page.get_by_role("button", name="로그아웃")
    expect(logout).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("인식 테스트")

    recognize(page, val_photo("madonna"))
    expect(page.locator("#recognize-results li").first).to_contain_text(
        "알 수 없음", timeout=60_000
    )

    logout.click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator("form input[type=password]")).to_be_visible()
    expect(page.locator(".session .who")).to_have_count(0)
    page.goto(f"{server.url}/admin/employees")
    expect(page).to_have_url(re.compile(r"/login"))
