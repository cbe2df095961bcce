"""The animate effect end to end through the contract: the API takes a photo (and a driving video
or a text), a real `flask studio worker` makes the video, and the job's JSON gives the result's
URL, duration and frame count, with the subtitles as an extra output."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.studio_helpers import (
    STUDIO_EMAIL,
    bearer,
    encode,
    finished,
    photo,
    studio_with_worker,
    wait_for,
    write_video,
)
from tests.support import login

API = "/api/v1/studio"


@pytest.fixture(scope="module")
def studio(tmp_path_factory, migrated_db):
    with studio_with_worker(tmp_path_factory, migrated_db, "animate") as env:
        yield env


def portrait() -> bytes:
    return encode(photo("jerry_seinfeld", 9, split="train"), "JPEG")


def _post(studio, files: dict, params: dict | None = None, **fields):
    client = studio["app"].test_client()
    data = {"effect": "animate", **fields, **files}
    if params is not None:
        data["params"] = json.dumps(params)
    return client.post(
        f"{API}/jobs",
        data=data,
        content_type="multipart/form-data",
        headers=bearer(studio["token"]),
    )


def _wait(studio, response) -> dict:
    assert response.status_code == 202, response.get_json()
    client = studio["app"].test_client()
    return wait_for(
        client, response.get_json()["status_url"], bearer(studio["token"]), finished, 300
    )


def _done(studio, response) -> dict:
    status = _wait(studio, response)
    assert status["status"] == "done", (status, studio["worker"].output()[-3000:])
    return status


def test_a_built_in_motion_makes_a_video(studio):
    media = {"media": (io.BytesIO(portrait()), "jerry.jpg")}
    status = _done(studio, _post(studio, media, {"motion": "nod", "seconds": 2}))
    result = status["result"]
    assert result["media_type"] == "video/mp4"
    assert result["frames"] == 50 and abs(result["duration"] - 2.0) < 0.05
    assert status["details"]["mode"] == "motion" and status["details"]["motion"] == "nod"
    client = studio["app"].test_client()
    body = client.get(result["url"], headers=bearer(studio["token"])).get_data()
    assert body[4:8] == b"ftyp"
    page = login(studio["app"].test_client(), STUDIO_EMAIL, "correct-horse-battery")
    html = page.get(f"/studio/jobs/{status['job_id']}").get_data(as_text=True)
    assert "Built-in motion: Nod, 2.0 s." in html and "Animate a photo" in html


def test_a_text_is_spoken_with_subtitles(studio):
    media = {"media": (io.BytesIO(portrait()), "jerry.jpg")}
    status = _done(studio, _post(studio, media, {}, text="Hello there. Nice to meet you."))
    details = status["details"]
    assert details["mode"] == "talk" and details["language"] == "en" and details["has_audio"]
    result = status["result"]
    assert result["duration"] == pytest.approx(details["duration"], abs=0.05)
    assert result["frames"] == round(result["duration"] * 25)
    extras = {extra["name"]: extra["url"] for extra in result["extras"]}
    assert set(extras) == {"subtitles.vtt"}
    client = studio["app"].test_client()
    vtt = client.get(extras["subtitles.vtt"], headers=bearer(studio["token"]))
    assert vtt.status_code == 200
    body = vtt.get_data(as_text=True)
    assert body.startswith("WEBVTT") and "Nice to meet you." in body
    # The job page plays the video with the subtitles as its track.
    page = login(studio["app"].test_client(), STUDIO_EMAIL, "correct-horse-battery")
    html = page.get(f"/studio/jobs/{status['job_id']}").get_data(as_text=True)
    assert f'<track kind="subtitles" src="{extras["subtitles.vtt"]}" srclang="en"' in html


def test_a_driving_video_moves_the_face(studio, tmp_path):
    # Another person's photo moving across the frame, with a sound track: the face follows it.
    face = np.asarray(Image.fromarray(photo("mindy_kaling", 0)).resize((200, 200)))
    frames = []
    for i in range(20):
        canvas = np.full((360, 640, 3), 100, dtype=np.uint8)
        x = 200 + 3 * i
        canvas[80:280, x : x + 200] = face
        frames.append(canvas)
    clip = write_video(tmp_path / "drive.mp4", frames, fps=10, audio=True).read_bytes()
    files = {
        "media": (io.BytesIO(portrait()), "jerry.jpg"),
        "driving": (io.BytesIO(clip), "drive.mp4"),
    }
    status = _done(studio, _post(studio, files, {"reference": "neutral"}))
    assert status["details"]["mode"] == "reenact" and status["details"]["has_audio"]
    assert status["result"]["frames"] == 20
    assert status["result"]["duration"] == pytest.approx(2.0, abs=0.15)


def test_a_driving_video_and_a_text_together_are_refused(studio, tmp_path):
    clip = write_video(tmp_path / "d.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 5).read_bytes()
    files = {
        "media": (io.BytesIO(portrait()), "jerry.jpg"),
        "driving": (io.BytesIO(clip), "d.mp4"),
    }
    status = _wait(studio, _post(studio, files, {}, text="Hello."))
    assert status["status"] == "failed" and status["error_code"] == "conflicting_inputs"


def test_a_photo_without_a_face_fails_clearly(studio):
    blank = encode(np.full((240, 320, 3), 180, np.uint8), "PNG")
    status = _wait(studio, _post(studio, {"media": (io.BytesIO(blank), "blank.png")}, {}))
    assert status["status"] == "failed" and status["error_code"] == "no_face"


def test_a_video_as_the_photo_and_bad_params_are_refused(studio, tmp_path):
    clip = write_video(tmp_path / "v.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 5).read_bytes()
    response = _post(studio, {"media": (io.BytesIO(clip), "v.mp4")}, {})
    assert response.status_code == 400 and response.get_json()["error"] == "image_required"
    response = _post(studio, {"media": (io.BytesIO(portrait()), "j.jpg")}, {"motion": "moonwalk"})
    assert response.status_code == 400 and response.get_json()["error"] == "bad_params"
    response = _post(studio, {"media": (io.BytesIO(portrait()), "j.jpg")}, {"seconds": 90})
    assert response.status_code == 400 and response.get_json()["error"] == "bad_params"
