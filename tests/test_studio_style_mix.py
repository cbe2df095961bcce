"""The style_mix effect through the contract: the API takes the job with its sliders, a real
`flask studio worker` projects, mixes and pastes the face back, and bad choices are refused.

The projection runs at 64 px with 2 iterations: the torch generator takes tens of seconds per
step on the shared CPU; quality at real settings is measured in bench/stylemix_bench.py."""

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
    studio_client,
    studio_with_worker,
    wait_for,
    write_video,
)

# Gradient descent through the torch generator takes minutes on a CPU: full suite only.
pytestmark = pytest.mark.slow

API = "/api/v1/studio"
JOB_SECONDS = 1500.0


@pytest.fixture(scope="module")
def studio(tmp_path_factory, migrated_db):
    with studio_with_worker(tmp_path_factory, migrated_db, "style-mix") as env:
        yield env


def _post(studio, media: bytes, name: str, params: dict, **extra):
    client = studio["app"].test_client()
    data = {"media": (io.BytesIO(media), name), "effect": "style_mix", "params": json.dumps(params)}
    data.update(extra)
    return client.post(
        f"{API}/jobs",
        data=data,
        content_type="multipart/form-data",
        headers=bearer(studio["token"]),
    )


def _why(studio, status: dict) -> str:
    """The job's error and the worker's warnings, for a failed assertion."""
    lines = [
        line
        for line in studio["worker"].output().splitlines()
        if "huey:" not in line and ("WARNING" in line or "ERROR" in line or "Error" in line)
    ]
    return f"{status.get('error_code')}: {status.get('error')}\n" + "\n".join(lines[-30:])


def _wait(studio, response) -> dict:
    client = studio["app"].test_client()
    assert response.status_code == 202, response.get_json()
    url = response.get_json()["status_url"]
    return wait_for(client, url, bearer(studio["token"]), finished, JOB_SECONDS)


def test_a_photo_is_style_mixed_with_a_preset_face(studio):
    from webapp.studio.provenance import read_image_label

    original = photo("jerry_seinfeld")
    params = {
        "resolution": 64,
        "iterations": 2,
        "layers": "middle_fine",
        "fine_strength": 0.8,
        "other": "preset_b",
        "look": "oil",
        "look_strength": 0.4,
    }
    status = _wait(studio, _post(studio, encode(original, "PNG"), "jerry.png", params))
    assert status["status"] == "done", _why(studio, status)
    # The sliders and choices reached the job as sent; the rest are the schema's defaults.
    for key, value in params.items():
        assert status["params"][key] == value
    assert status["params"]["coarse_strength"] == 1.0
    assert status["details"]["strengths"] == {"coarse": 0.0, "middle": 1.0, "fine": 0.8}
    client = studio["app"].test_client()
    body = client.get(status["result"]["url"], headers=bearer(studio["token"])).get_data()
    result = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    assert result.shape == original.shape
    changed = np.abs(result.astype(int) - original).sum(axis=2) > 40
    assert 0.02 < changed.mean() < 0.8  # the face, not the whole picture
    stored = next(Path(studio["app"].config["MEDIA_DIR"]).rglob("results/*.png"))
    label = read_image_label(stored)
    assert "style-mixed" in label["Description"] and label["Synthetic"] == "true"


def test_a_quick_preview_of_a_video_is_its_first_frame_mixed_at_low_resolution(studio, tmp_path):
    """The page's preview button: the same sliders with `preview` on; the worker caps the
    projection at 128 px / 30 iterations and returns the aligned face and its mix side by side."""
    face = photo("jerry_seinfeld")[:300, :300]
    clip = write_video(tmp_path / "in.mp4", [face, face], fps=12, audio=True)
    params = {
        "resolution": 512,
        "iterations": 200,
        "layers": "fine",
        "other": "preset_a",
        "preview": True,
    }
    status = _wait(studio, _post(studio, clip.read_bytes(), "in.mp4", params))
    assert status["status"] == "done", _why(studio, status)
    assert status["params"]["resolution"] == 512 and status["params"]["preview"] is True
    details = status["details"]
    assert details["preview_resolution"] == 128 and details["preview_iterations"] == 30
    assert status["result"]["media_type"] in ("image/png", "image/jpeg")
    client = studio["app"].test_client()
    body = client.get(status["result"]["url"], headers=bearer(studio["token"])).get_data()
    result = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    assert result.shape == (384, 768, 3)
    aligned, mixed = result[:, :384].astype(int), result[:, 384:].astype(int)
    assert np.abs(aligned - mixed).mean() > 5  # the mix, not the input again
    assert aligned.std() > 20 and mixed.std() > 20  # two faces, not blank halves


def test_the_second_photo_is_needed_when_chosen(studio):
    params = {"resolution": 64, "iterations": 1, "other": "source"}
    status = _wait(studio, _post(studio, encode(photo("madonna")), "m.jpg", params))
    assert status["status"] == "failed" and status["error_code"] == "missing_source"


def test_a_photo_without_a_face_fails_with_its_code(studio):
    blank = np.full((240, 320, 3), 120, np.uint8)
    status = _wait(studio, _post(studio, encode(blank), "blank.jpg", {"iterations": 1}))
    assert status["status"] == "failed" and status["error_code"] == "no_face"


def test_out_of_range_sliders_are_refused(studio):
    client = studio_client(studio["app"], "mixer@example.com")
    for params, message in (
        ({"resolution": 2048}, "params.resolution must be between 64 and 1024."),
        ({"iterations": -1}, "params.iterations must be between 0 and 500."),
        ({"layers": "hair"}, None),
    ):
        data = {
            "media": (io.BytesIO(encode(photo("madonna"))), "m.jpg"),
            "effect": "style_mix",
            "params": json.dumps(params),
        }
        response = client.post(f"{API}/jobs", data=data, content_type="multipart/form-data")
        assert response.status_code == 400
        assert response.get_json()["error"] == "bad_params"
        if message:
            assert response.get_json()["message"] == message


def test_a_video_is_style_mixed_frame_by_frame_with_its_sound(studio, tmp_path):
    from ml.video import probe

    face = photo("jerry_seinfeld")[:300, :300]
    frames = [np.ascontiguousarray(np.roll(face, 3 * i, axis=1)) for i in range(3)]  # a slow pan
    clip = write_video(tmp_path / "in.mp4", frames, fps=12, audio=True)
    params = {
        "resolution": 64,
        "iterations": 1,
        "video_iterations": 1,
        "video_keyframes": 2,
        "layers": "fine",
        "other": "generated",
        "seed": 5,
    }
    status = _wait(studio, _post(studio, clip.read_bytes(), "in.mp4", params))
    assert status["status"] == "done", _why(studio, status)
    assert status["result"]["media_type"] == "video/mp4" and status["result"]["frames"] == 3
    details = status["details"]
    assert details["frames"] == 3 and details["frames_mixed"] == 3
    assert details["projections"] == 2  # frames 0 and 2; frame 1 reuses the last face
    stored = next(Path(studio["app"].config["MEDIA_DIR"]).rglob("results/*.mp4"))
    made = probe(stored)
    assert made.has_audio and made.codec == "h264" and made.frames == 3
