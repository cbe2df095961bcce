"""Animate a photo in a real browser: the generated form takes a text, a real worker makes the
talking photo, and the job page plays it with the WebVTT subtitles as the video's track."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.servers import studio_worker
from tests.studio_helpers import photo

pytestmark = pytest.mark.slow

EMAIL = "animator@example.com"
PASSWORD = "correct-horse-battery"
JOB_TIMEOUT = 240_000  # ms


@pytest.fixture(scope="module")
def worker(server):
    """A studio worker on the server's instance, and a studio user."""
    with studio_worker(server, EMAIL, PASSWORD) as process:
        yield process


def test_a_talking_photo_plays_with_its_subtitles(server, worker, page, tmp_path, screenshots):
    portrait = tmp_path / "jerry.jpg"
    Image.fromarray(photo("jerry_seinfeld", 9, split="train")).save(portrait)
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/studio/$"))
    page.get_by_label("Animate a photo").check()
    page.locator("#studio-media").set_input_files(portrait)
    page.get_by_label(re.compile("Text to speak")).fill("Hello there. Nice to meet you.")
    page.get_by_label("Burn the subtitles into the picture").check()
    page.screenshot(path=screenshots / "studio-animate-form.png", full_page=True)
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/studio/jobs/\d+$"))
    video = page.locator("#job-result-media video")
    expect(video).to_be_visible(timeout=JOB_TIMEOUT)
    expect(page.locator("#job-result-media video track")).to_have_count(1)
    expect(page.get_by_text(re.compile(r"Spoke 30 characters \(en\)"))).to_be_visible()
    cues = page.evaluate(
        """async () => {
            const v = document.querySelector('#job-result-media video');
            const track = v.textTracks[0];
            track.mode = 'showing';
            for (let i = 0; i < 100 && !(track.cues && track.cues.length); i++) {
                await new Promise((r) => setTimeout(r, 100));
            }
            await new Promise((r) => { v.currentTime = 1.0; v.onseeked = r; });
            return [...track.cues].map((c) => c.text);
        }"""
    )
    assert cues == ["Hello there.", "Nice to meet you."]
    page.screenshot(path=screenshots / "studio-animate-job.png", full_page=True)
    assert page.evaluate("document.querySelector('#job-result-media video').duration") > 1.0
