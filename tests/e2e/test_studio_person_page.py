"""Face swap onto a generated person in a real browser, with gunicorn and a real studio worker:
choose "a generated person", a gender and an age, click a candidate, see others, start the job
(no consent asked), and the result says which generated person went in."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.people_helpers import cells
from tests.servers import studio_worker
from tests.studio_helpers import encode, photo

pytestmark = pytest.mark.slow

EMAIL = "swapper@example.com"
PASSWORD = "correct-horse-battery"
JOB_TIMEOUT = 180_000  # ms
# The server and its worker read the test bank of generated people (copied here before they start).
BANK = Path(tempfile.gettempdir()) / f"face-platform-e2e-people-{os.getpid()}"
SERVER_ENV = {"FACEBANK_DIR": str(BANK), "FACEBANK_AUTOFILL": "0"}


@pytest.fixture(scope="module", autouse=True)
def bank(people_bank):
    """The session's bank of generated people, where the server will look for it."""
    shutil.rmtree(BANK, ignore_errors=True)
    shutil.copytree(people_bank, BANK)
    yield BANK
    shutil.rmtree(BANK, ignore_errors=True)


@pytest.fixture(scope="module")
def worker(server):
    with studio_worker(server, EMAIL, PASSWORD) as process:
        yield process


def test_pick_a_generated_person_and_swap_it_in(server, worker, page, bank, tmp_path, screenshots):
    # The test bank's largest band of women. A batch is 4: when the band has fewer, the worker
    # makes more while the page waits (the fallback a fresh install goes through).
    gender, band = max(cells(bank).items(), key=lambda i: (i[0][0] == "female", len(i[1])))[0]
    scene = tmp_path / "madonna.jpg"
    scene.write_bytes(encode(photo("madonna", 0)))
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/studio/$"))
    page.locator("input[name=effect][value=face_swap]").check()
    options = page.locator("#studio-face_swap-options")
    page.locator("#studio-media").set_input_files(scene)
    expect(page.locator(".face-box.chosen")).to_have_count(1, timeout=60_000)
    # A source photo is the default: its consent box shows; a generated person hides both.
    expect(options.get_by_label(re.compile("has consented"))).to_be_visible()
    options.get_by_role("radio", name="A generated person (no real person)").check()
    expect(options.get_by_label(re.compile("has consented"))).to_be_hidden()
    expect(options.get_by_label("Source face (a photo)")).to_be_hidden()
    expect(options.get_by_text("no consent is needed")).to_be_visible()
    expect(options.get_by_text("non-commercial use only")).to_be_visible()
    options.get_by_label("Gender", exact=True).select_option(gender)
    options.get_by_label("Age", exact=True).select_option(band)
    people = options.locator(".person-row .person")
    expect(people).to_have_count(4, timeout=JOB_TIMEOUT)
    ids = [people.nth(i).get_attribute("data-person") for i in range(4)]
    assert ids == [d.id for d in cells(bank)[(gender, band)][:4]]  # the bank's, in its order
    expect(people.first).to_have_class(re.compile(r"\bchosen\b"))  # one is chosen at once
    people.nth(1).click()
    expect(people.nth(1)).to_have_class(re.compile(r"\bchosen\b"))
    expect(people.nth(1)).to_have_attribute("aria-checked", "true")
    expect(options.locator(".person.chosen")).to_have_count(1)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.person-row img')].every(i => i.naturalWidth > 0)"
    )
    page.screenshot(path=screenshots / "studio-person-picker.png", full_page=True)
    # Others: the next batch (made by the worker if the band has no more yet).
    options.get_by_role("button", name="Show others").click()
    expect(people.first).not_to_have_attribute("data-person", ids[0], timeout=JOB_TIMEOUT)
    chosen = people.first.get_attribute("data-person")
    assert chosen not in ids
    people.first.click()
    expect(people.first).to_have_class(re.compile(r"\bchosen\b"))
    donor = next(d for d in cells(bank)[(gender, band)] if d.id == chosen)
    page.get_by_role("button", name="Start").click()  # no consent asked
    expect(page).to_have_url(re.compile(r"/studio/jobs/\d+$"))
    result = page.locator("#job-result-media img:not(.before)")
    expect(result).to_be_visible(timeout=JOB_TIMEOUT)
    expect(page.get_by_text("Faces swapped: 1.")).to_be_visible()
    said = page.get_by_text(f"generated person (no real person): {chosen}, seed {donor.seed}")
    expect(said).to_be_visible()
    page.screenshot(path=screenshots / "studio-person-job.png", full_page=True)
    job_id = page.url.rsplit("/", 1)[1]
    job = page.request.get(f"{server.url}/api/v1/studio/jobs/{job_id}").json()
    assert job["params"]["person"] == chosen and job["params"]["consent"] is False
    assert job["details"]["person"]["gender"] == gender


def test_the_picker_speaks_korean(server, worker, page, screenshots):
    page.goto(f"{server.url}/studio/?lang=ko")
    page.locator("input[name=effect][value=face_swap]").check()
    options = page.locator("#studio-face_swap-options")
    expect(options.get_by_text("입힐 얼굴")).to_be_visible()
    options.get_by_role("radio", name="생성된 사람 (실존하지 않는 사람)").check()
    expect(options.get_by_role("button", name="다른 사람 보기")).to_be_visible()
    expect(options.get_by_text("동의가 필요하지 않습니다")).to_be_visible()
    expect(options.locator(".person-row .person")).to_have_count(4, timeout=JOB_TIMEOUT)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.person-row img')].every(i => i.naturalWidth > 0)"
    )
    options.screenshot(path=screenshots / "studio-person-picker-ko.png")
    page.goto(f"{server.url}/studio/?lang=en")  # the next module's pages are in English again
