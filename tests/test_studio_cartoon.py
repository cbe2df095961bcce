"""The cartoon effect end to end through the contract: the API takes the job, a real
`flask studio worker` runs it on a photo and a video, the result carries the effect's
provenance, and the job page says what was done. Nothing in the studio's shared files names it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.studio_helpers import (
    bearer,
    encode,
    finished,
    photo,
    scene_frames,
    studio_client,
    studio_with_worker,
    wait_for,
    write_video,
)

API = "/api/v1/studio"


@pytest.fixture(scope="module")
def studio(tmp_path_factory, migrated_db):
    with studio_with_worker(tmp_path_factory, migrated_db, "cartoon") as env:
        yield env


def _run(studio, media: bytes, name: str, params: dict) -> dict:
    client = studio["app"].test_client()
    headers = bearer(studio["token"])
    data = {"media": (io.BytesIO(media), name), "effect": "cartoon", "params": json.dumps(params)}
    response = client.post(
        f"{API}/jobs", data=data, content_type="multipart/form-data", headers=headers
    )
    assert response.status_code == 202, response.get_json()
    status = wait_for(client, response.get_json()["status_url"], headers, finished, 120.0)
    assert status["status"] == "done", (status, studio["worker"].output()[-3000:])
    return status


def test_a_photo_becomes_a_cartoon_with_its_provenance(studio):
    from webapp.studio.provenance import read_image_label

    original = photo("jerry_seinfeld")
    status = _run(studio, encode(original, "PNG"), "jerry.png", {"strength": 1.0})
    assert status["params"] == {"strength": 1.0, "edges": True}
    assert status["details"]["strength"] == 1.0 and status["details"]["engine"]
    client = studio["app"].test_client()
    body = client.get(status["result"]["url"], headers=bearer(studio["token"])).get_data()
    result = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    assert result.shape == original.shape
    colours = len(np.unique(result.reshape(-1, 3), axis=0))
    assert colours < len(np.unique(original.reshape(-1, 3), axis=0)) / 8
    stored = next(Path(studio["app"].config["MEDIA_DIR"]).rglob("results/*.png"))
    label = read_image_label(stored)
    assert "redrawn as a cartoon" in label["Description"] and label["Synthetic"] == "true"


def test_a_video_becomes_a_cartoon(studio, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", scene_frames(8)).read_bytes()
    status = _run(studio, clip, "clip.mp4", {"strength": 0.6, "edges": False})
    assert status["result"]["media_type"] == "video/mp4"
    assert status["result"]["frames"] == 8 and status["details"]["frames"] == 8


def test_bad_strength_is_refused_with_the_schema_message(studio):
    client = studio_client(studio["app"], "cartoonist@example.com")
    data = {
        "media": (io.BytesIO(encode(photo("madonna"))), "m.jpg"),
        "effect": "cartoon",
        "params": json.dumps({"strength": 3}),
    }
    response = client.post(f"{API}/jobs", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "bad_params",
        "message": "params.strength must be between 0 and 1.",
    }


def test_the_job_page_says_what_was_done(studio):
    client = studio_client(studio["app"], "viewer@example.com")
    data = {"media": (io.BytesIO(encode(photo("madonna"))), "m.jpg"), "effect": "cartoon"}
    response = client.post(f"{API}/jobs", data=data, content_type="multipart/form-data")
    status = wait_for(client, response.get_json()["status_url"], {}, finished, 120.0)
    assert status["status"] == "done"
    page = client.get(f"/studio/jobs/{status['job_id']}").get_data(as_text=True)
    assert "Strength: 0.80." in page and "Cartoon" in page
