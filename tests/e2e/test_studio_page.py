"""A studio user's flows in a real browser, with gunicorn and a real `flask studio worker`:
upload, pick faces on the boxes, start a job, watch it finish, play and download the result."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.servers import studio_worker
from tests.studio_helpers import encode, photo, scene_frames, two_people, write_video

pytestmark = pytest.mark.slow

EMAIL = "pix@example.com"
PASSWORD = "correct-horse-battery"
JOB_TIMEOUT = 120_000  # ms


@pytest.fixture(scope="module")
def worker(server):
    """A studio worker on the server's instance, and a studio user."""
    with studio_worker(server, EMAIL, PASSWORD) as process:
        yield process


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studio-files")
    scene = folder / "party.jpg"
    scene.write_bytes(encode(two_people()))
    source = folder / "jerry.jpg"
    Image.fromarray(photo("jerry_seinfeld")).save(source)
    clip = write_video(folder / "clip.mp4", scene_frames(12))
    return {"scene": scene, "source": source, "clip": clip}


def test_log_in_and_open_the_studio(server, worker, page):
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/studio/$"))
    expect(page.get_by_role("heading", name="Studio", exact=True)).to_be_visible()
    expect(page.get_by_text("No jobs yet.")).to_be_visible()


def test_anonymize_a_photo_picking_faces_on_the_boxes(server, page, files, screenshots):
    page.locator("#studio-media").set_input_files(files["scene"])
    boxes = page.locator(".face-box")
    expect(boxes).to_have_count(2, timeout=60_000)
    expect(boxes.nth(0)).to_have_class(re.compile(r"\bchosen\b"))  # the main subject is kept
    expect(boxes.nth(0)).to_contain_text("keep")
    expect(boxes.nth(1)).not_to_have_class(re.compile(r"\bchosen\b"))
    boxes.nth(1).click()
    expect(boxes.nth(1)).to_contain_text("keep")
    boxes.nth(1).click()
    expect(boxes.nth(1)).to_contain_text("replace")
    page.get_by_label("Other faces").select_option("pixelate")
    page.screenshot(path=screenshots / "studio-faces.png", full_page=True)
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/studio/jobs/\d+$"))
    result = page.locator("#job-result-media img:not(.before)")
    expect(result).to_be_visible(timeout=JOB_TIMEOUT)
    page.screenshot(path=screenshots / "studio-job.png", full_page=True)
    expect(page.locator("#job-status")).to_have_text("done")
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(page.get_by_role("button", name="Retry")).to_be_hidden()
    expect(page.get_by_text("Faces replaced: 1; kept: 1.")).to_be_visible()
    assert result.evaluate("img => img.naturalWidth") == 640
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "party-anonymize.jpg"  # the file and the effect
    # The job list says which file and options, on the site's clock, before and after the page's
    # script refreshes it (it refreshes every 5 s).
    page.goto(f"{server.url}/studio/")
    row = page.locator("#studio-jobs tbody tr").first
    expect(row.locator("td").nth(1)).to_have_text("party.jpg")
    expect(row.locator("td").nth(2)).to_contain_text("Other faces Pixelate")
    written = row.locator("td").nth(5).inner_text()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", written), written
    page.wait_for_timeout(6_000)
    expect(row.locator("td").nth(5)).to_have_text(written)
    expect(row.locator("td").nth(2)).to_contain_text("Other faces Pixelate")


def test_face_swap_asks_for_consent(server, page, files):
    page.goto(f"{server.url}/studio/")
    page.locator("input[name=effect][value=face_swap]").check()
    page.locator("#studio-media").set_input_files(files["scene"])
    expect(page.locator(".face-box.chosen")).to_have_count(2, timeout=60_000)
    page.locator(".face-box").nth(0).click()  # swap only the second person
    page.get_by_label("Source face (a photo)").set_input_files(files["source"])
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#studio-form-error")).to_have_text(
        "Confirm the consent of the person in the source photo."
    )
    page.get_by_label(re.compile("has consented")).check()
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/studio/jobs/\d+$"))
    expect(page.locator("#job-result-media img:not(.before)")).to_be_visible(timeout=JOB_TIMEOUT)
    expect(page.get_by_text("Faces swapped: 1.")).to_be_visible()


def test_a_video_result_plays_in_the_page(server, page, files):
    page.goto(f"{server.url}/studio/")
    page.locator("#studio-media").set_input_files(files["clip"])
    expect(page.locator(".face-box")).to_have_count(2, timeout=60_000)
    page.get_by_label("Other faces").select_option("blur")
    page.get_by_role("button", name="Start").click()
    video = page.locator("#job-result-media video")
    expect(video).to_be_visible(timeout=JOB_TIMEOUT)
    page.wait_for_function(
        "() => document.querySelector('#job-result-media video').readyState >= 2",
        timeout=20_000,
    )
    size = page.evaluate(
        "(() => { const v = document.querySelector('#job-result-media video');"
        " return [v.videoWidth, v.videoHeight, v.duration]; })()"
    )
    assert size[:2] == [320, 240] and 1.0 < size[2] < 1.5


def test_the_job_list_shows_every_job(server, page):
    page.goto(f"{server.url}/studio/")
    rows = page.locator("#studio-jobs tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#studio-jobs .badge.job-done")).to_have_count(3)


def test_make_an_api_token(server, page):
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("What is it for?").fill("render farm")
    page.get_by_role("button", name="Make a token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("fp_")
    expect(page.get_by_role("cell", name="render farm")).to_be_visible()


def test_cartoon_runs_from_the_form_generated_by_its_contract(server, page, files, screenshots):
    page.goto(f"{server.url}/studio/")
    page.locator("input[name=effect][value=cartoon]").check()
    expect(page.locator("#studio-cartoon-options")).to_be_visible()
    expect(page.locator("#studio-anonymize-options")).to_be_hidden()
    strength = page.locator("#studio-cartoon-options").get_by_label("Strength")
    strength.fill("0.5")
    expect(page.locator("#studio-cartoon-options output")).to_have_text("0.5")
    page.locator("#studio-media").set_input_files(files["scene"])
    expect(page.locator("#studio-upload-status")).to_contain_text("Ready.", timeout=60_000)
    expect(page.locator(".face-box")).to_have_count(0)  # cartoon picks no faces
    page.screenshot(path=screenshots / "studio-cartoon-form.png", full_page=True)
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/studio/jobs/\d+$"))
    expect(page.locator("#job-result-media img:not(.before)")).to_be_visible(timeout=JOB_TIMEOUT)
    expect(page.get_by_text("Strength: 0.50.")).to_be_visible()
    page.screenshot(path=screenshots / "studio-cartoon-job.png", full_page=True)
