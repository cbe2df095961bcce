"""Style mixing in a real browser: the page's sliders and choices reach the job's parameters.

No worker runs here: the job is only queued, which is enough to read back what the page sent
(the worker side is tests/test_studio_style_mix.py)."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.studio_helpers import photo

pytestmark = pytest.mark.slow

EMAIL = "mixer@example.com"
PASSWORD = "correct-horse-battery"


def test_the_sliders_reach_the_job(server, page, tmp_path, screenshots):
    server.cli("users", "create", EMAIL, "--role", "studio", "--password", PASSWORD)
    picture = tmp_path / "jerry.jpg"
    Image.fromarray(photo("jerry_seinfeld")).save(picture)
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/studio/$"))
    page.get_by_label("Style mixing").check()
    options = page.locator("#studio-style_mix-options")
    expect(options).to_be_visible()
    page.locator("#studio-media").set_input_files(picture)
    options.locator('[data-param="resolution"]').fill("128")
    options.locator('[data-param="iterations"]').fill("30")
    options.locator('[data-param="video_iterations"]').fill("4")
    options.locator('[data-param="fine_strength"]').fill("0.35")
    options.locator('[data-param="layers"]').select_option("coarse_middle")
    options.locator('[data-param="other"]').select_option("preset_c")
    options.locator('[data-param="look"]').select_option("cartoon_ink")
    expect(options.locator('[data-param="resolution"]')).to_have_value("128")
    # The quick preview sends the same sliders with `preview` on and stays on the page.
    options.get_by_role("button", name=re.compile("Quick preview")).click()
    expect(options.locator("[data-preview-status]")).to_contain_text("%", timeout=30_000)
    expect(page).to_have_url(re.compile(r"/studio/$"))
    listed = page.request.get(f"{server.url}/api/v1/studio/jobs").json()["jobs"]
    preview = listed[0]["params"]
    assert preview["preview"] is True and preview["resolution"] == 128
    assert preview["iterations"] == 30 and preview["other"] == "preset_c"
    page.screenshot(path=screenshots / "studio-style-mix.png", full_page=True)
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/studio/jobs/\d+$"), timeout=30_000)
    job_id = page.url.rsplit("/", 1)[1]
    job = page.request.get(f"{server.url}/api/v1/studio/jobs/{job_id}").json()
    assert job["effect"] == "style_mix"
    params = job["params"]
    assert params["resolution"] == 128 and params["iterations"] == 30
    assert params["video_iterations"] == 4 and params["fine_strength"] == 0.35
    assert params["layers"] == "coarse_middle" and params["other"] == "preset_c"
    assert params["look"] == "cartoon_ink" and params["preview"] is False
