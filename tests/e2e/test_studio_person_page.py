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
    # The cell with the most people, so that "Show others" has a second batch of 1 or more.
    (gender, band), donors = max(cells(bank).items(), key=lambda item: len(item[1]))
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
    options.get_by_label("A generated person (no real person)").check()
    expect(options.get_by_label(re.compile("has consented"))).to_be_hidden()
    expect(options.get_by_label("Source face (a photo)")).to_be_hidden()
    expect(options.get_by_text("no consent is needed")).to_be_visible()
    expect(options.get_by_text("non-commercial use only")).to_be_visible()
    options.get_by_label("Gender", exact=True).select_option(gender)
    options.get_by_label("Age", exact=True).select_option(band)
    people = options.locator(".person-row .person")
    expect(people).to_have_count(min(4, len(donors)), timeout=30_000)
    ids = [people.nth(i).get_attribute("data-person") for i in range(people.count())]
    assert ids == [d.id for d in donors[:4]]  # the bank's people of that gender and age
    expect(people.first).to_have_class(re.compile(r"\bchosen\b"))  # one is chosen at once
    people.nth(1).click()
    expect(people.nth(1)).to_have_class(re.compile(r"\bchosen\b"))
    expect(people.nth(1)).to_have_attribute("aria-checked", "true")
    expect(options.locator(".person.chosen")).to_have_count(1)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.person-row img')].every(i => i.naturalWidth > 0)"
    )
    page.screenshot(path=screenshots / "studio-person-picker.png", full_page=True)
    chosen = ids[1]
    if len(donors) > 4:  # another batch: other people; then back to the first one's row
        options.get_by_role("button", name="Show others").click()
        expect(people.first).to_have_attribute("data-person", donors[4].id)
        people.first.click()
        chosen = donors[4].id
    page.get_by_role("button", name="Start").click()  # no consent asked
    expect(page).to_have_url(re.compile(r"/studio/jobs/\d+$"))
    result = page.locator("#job-result-media img:not(.before)")
    expect(result).to_be_visible(timeout=JOB_TIMEOUT)
    expect(page.get_by_text("Faces swapped: 1.")).to_be_visible()
    seed = next(d.seed for d in donors if d.id == chosen)
    said = page.get_by_text(f"generated person (no real person): {chosen}, seed {seed}")
    expect(said).to_be_visible()
    page.screenshot(path=screenshots / "studio-person-job.png", full_page=True)
    job_id = page.url.rsplit("/", 1)[1]
    job = page.request.get(f"{server.url}/api/v1/studio/jobs/{job_id}").json()
    assert job["params"]["person"] == chosen and job["params"]["consent"] is False
