"""Colorize in a real browser: paint colour hints on the photo, keep automatic face colour on
with few fitting steps, start the job, compare the result with the original on the before/after
slider."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from ml.restore.color import grey_rgb
from tests.servers import studio_worker
from tests.studio_helpers import photo

pytestmark = pytest.mark.slow

EMAIL = "restorer@example.com"
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def worker(server):
    """A studio worker on the server's instance, and a studio user."""
    with studio_worker(server, EMAIL, PASSWORD) as process:
        yield process


def test_paint_hints_colorize_and_compare(server, worker, page, tmp_path, screenshots):
    old = tmp_path / "old.png"
    Image.fromarray(grey_rgb(photo("jerry_seinfeld", 2))).save(old)
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/studio/$"))
    page.get_by_label("Colorize an old photo").check()
    page.locator("#studio-media").set_input_files(old)
    canvas = page.locator(".hint-canvas")
    expect(canvas).to_be_visible(timeout=30_000)
    options = page.locator("#studio-colorize-options")

    def paint(colour: str, start: tuple[float, float], end: tuple[float, float]) -> None:
        options.locator("input[type=color]").fill(colour)
        canvas.scroll_into_view_if_needed()  # filling the picker may have scrolled the page
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1])
        page.mouse.down()
        page.mouse.move(
            box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1], steps=8
        )
        page.mouse.up()

    paint("#c08060", (0.45, 0.4), (0.55, 0.45))  # skin
    paint("#203070", (0.15, 0.9), (0.3, 0.95))  # the suit
    strokes = json.loads(options.locator("textarea[data-param=hints]").input_value())
    assert [s["color"] for s in strokes] == ["#c08060", "#203070"]
    # In the photo's own pixels (240 x 364), whatever size the preview is shown at.
    points = np.array([p for s in strokes for p in s["points"]])
    assert 0.4 * 240 < points[0, 0] < 0.5 * 240 and 0.35 * 364 < points[0, 1] < 0.45 * 364
    assert points[:, 0].max() <= 240 and points[:, 1].max() <= 364
    # Automatic face colour is on by default; few fitting steps keep the test short.
    expect(options.locator('[data-param="face_colour"]')).to_be_checked()
    options.locator('[data-param="face_steps"]').fill("5")
    page.screenshot(path=screenshots / "restore-hints.png", full_page=True)
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/studio/jobs/\d+$"))
    expect(page.locator("#job-status")).to_have_text("done", timeout=240_000)
    slider = page.get_by_label("Before / after")
    expect(slider).to_be_visible()
    expect(page.locator(".before-after img.before")).to_be_attached()
    slider.fill("20")
    clip = page.evaluate("document.querySelector('.before-after .before').style.clipPath")
    assert clip == "inset(0px 80% 0px 0px)"
    sources = "Colours from: the face colour prior, your colour hints."
    expect(page.get_by_text(sources)).to_be_visible()
    expect(page.get_by_text("Faces coloured automatically: 1 of 1.")).to_be_visible()
    page.screenshot(path=screenshots / "restore-result.png", full_page=True)
