"""The studio's job list: which file, the effect with its options, one clock, and downloads named
after the original file and the effect."""

from __future__ import annotations

import io
import re
from html import unescape

import pytest

from tests.studio_helpers import encode, studio_client, two_people

API = "/api/v1/studio"


@pytest.fixture
def pix(app):
    app.config["SITE_TIMEZONE"] = "Asia/Seoul"
    return studio_client(app)


def start_job(client, name: str, effect: str, params: str) -> dict:
    response = client.post(
        f"{API}/jobs",
        data={
            "media": (io.BytesIO(encode(two_people())), name),
            "effect": effect,
            "params": params,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    return client.get(response.get_json()["status_url"]).get_json()


def test_a_finished_job_downloads_under_the_original_name_and_the_effect(app, pix):
    """The cartoon effect (no models) runs in this process like a worker would run it."""
    from webapp.studio import tasks

    job = start_job(pix, "Holiday at 해변.jpg", "cartoon", '{"strength": 0.6, "edges": false}')
    assert job["input"]["original_name"] == "Holiday at 해변.jpg"
    with app.app_context():
        tasks.run_job(job["job_id"])
    done = pix.get(job["status_url"]).get_json()
    assert done["status"] == "done", done
    download = pix.get(done["result"]["download_url"])
    assert download.status_code == 200
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    # Non-ASCII names travel as RFC 5987 filename*; the ASCII fallback drops them.
    assert "filename*=UTF-8''Holiday%20at%20%ED%95%B4%EB%B3%80-cartoon.jpg" in disposition
    # An upload downloads under its own name.
    upload = pix.get(f"{done['input']['url']}?download=1").headers["Content-Disposition"]
    assert "Holiday%20at%20%ED%95%B4%EB%B3%80.jpg" in upload


def test_rows_say_which_file_which_options_and_when_on_the_site_clock(app, pix):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    job = start_job(pix, "team.jpg", "anonymize", '{"mode": "pixelate"}')
    page = unescape(pix.get("/studio/").get_data(as_text=True))
    row = re.search(rf'<tr data-job="{job["job_id"]}">.*?</tr>', page, re.S).group(0)
    cells = [
        re.sub(r"<[^>]+>", " ", cell).split() for cell in re.findall(r"<td.*?</td>", row, re.S)
    ]
    assert cells[1] == ["team.jpg"]
    assert "Other faces Pixelate" in " ".join(cells[2])  # the option's title and its label
    created = datetime.fromisoformat(job["created_at"]).astimezone(ZoneInfo("Asia/Seoul"))
    assert " ".join(cells[5]) == created.strftime("%Y-%m-%d %H:%M")
    assert "(Asia/Seoul)" in page  # the column says which clock
    # The page's script writes later rows on the same clock, from the same settings.
    assert '"timezone": "Asia/Seoul"' in page or 'timezone: "Asia/Seoul"' in page


def test_download_names_are_safe_file_names():
    from types import SimpleNamespace

    from webapp.studio.joblist import download_name

    def job(name, effect="face_swap"):
        return SimpleNamespace(input=SimpleNamespace(original_name=name, id=7), effect=effect)

    assert download_name(job("holiday.jpg"), "image/jpeg") == "holiday-face_swap.jpg"
    assert download_name(job("../../etc/passwd"), "image/png") == "passwd-face_swap.png"
    assert download_name(job('a"b;c.mov'), "video/mp4") == "a_b_c-face_swap.mp4"
    assert download_name(job(None), "video/mp4") == "media-7-face_swap.mp4"
    assert download_name(job("x" * 300 + ".jpg"), "image/jpeg") == "x" * 80 + "-face_swap.jpg"
