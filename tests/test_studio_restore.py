"""Colorize and enhance end to end through the contract: the API takes the jobs (hints as JSON
strokes, a reference photo), a real `flask studio worker` runs them, the page carries the hint
widget, the notices and the before/after slider."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from ml.restore.color import grey_rgb, hex_to_ab, rgb_to_lab
from tests.studio_helpers import (
    bearer,
    encode,
    finished,
    photo,
    studio_client,
    studio_with_worker,
    wait_for,
)

API = "/api/v1/studio"


@pytest.fixture(scope="module")
def studio(tmp_path_factory, migrated_db):
    with studio_with_worker(tmp_path_factory, migrated_db, "restore") as env:
        yield env


def _submit(studio, effect: str, media: bytes, params: dict, **files):
    client = studio["app"].test_client()
    data = {"media": (io.BytesIO(media), "old.png"), "effect": effect, "params": json.dumps(params)}
    data.update({role: (io.BytesIO(body), f"{role}.jpg") for role, body in files.items()})
    return client.post(
        f"{API}/jobs",
        data=data,
        content_type="multipart/form-data",
        headers=bearer(studio["token"]),
    )


def _run(studio, effect: str, media: bytes, params: dict, **files) -> tuple[dict, np.ndarray]:
    response = _submit(studio, effect, media, params, **files)
    assert response.status_code == 202, response.get_json()
    client = studio["app"].test_client()
    headers = bearer(studio["token"])
    status = wait_for(client, response.get_json()["status_url"], headers, finished, 240.0)
    assert status["status"] == "done", (status, studio["worker"].output()[-3000:])
    body = client.get(status["result"]["url"], headers=headers).get_data()
    return status, np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def test_a_grey_photo_is_colorized_from_hints_and_a_reference(studio):
    old = grey_rgb(photo("jerry_seinfeld", 2))
    height = old.shape[0]
    hints = [{"color": "#2040c0", "points": [[20, height - 20], [60, height - 20]], "width": 12}]
    reference = encode(photo("jerry_seinfeld", 0, split="train"))
    status, result = _run(
        studio,
        "colorize",
        encode(old, "PNG"),
        {"hints": hints, "face_colour": False},
        reference=reference,
    )
    assert result.shape == old.shape
    details = status["details"]
    assert details["sources"] == ["reference", "hints"] and details["hints"] == 1
    assert details["face_boxes_matched"] and not details["was_colour"]
    ab = rgb_to_lab(result)[:, :, 1:]
    assert np.linalg.norm(ab[height - 20, 40] - hex_to_ab("#2040c0")) < 15
    assert np.linalg.norm(ab, axis=2).mean() > 5  # colour everywhere, not only at the stroke


def test_a_colour_photo_is_left_alone_unless_recoloured(studio):
    original = photo("mindy_kaling")
    status, result = _run(
        studio, "colorize", encode(original, "PNG"), {"hints": [], "recolour": False}
    )
    assert status["details"]["skipped_colour_photo"] and status["details"]["was_colour"]
    assert np.abs(result.astype(int) - original.astype(int)).mean() < 1


def test_bad_hints_are_refused_before_a_job_is_made(studio):
    bad = [{"color": "#12345", "points": [[1, 2]], "width": 5}]
    response = _submit(studio, "colorize", encode(photo("madonna")), {"hints": bad})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "bad_hints" and "hints[0].color" in body["message"]


def test_colorize_without_any_colour_source_fails_clearly(studio):
    client = studio["app"].test_client()
    no_faces = np.tile(np.linspace(40, 220, 160, dtype=np.uint8)[None, :, None], (120, 1, 3))
    for media, params, says in (
        (grey_rgb(photo("madonna")), {"face_colour": False}, "Nothing to take colour from"),
        (no_faces, {}, "No face could be coloured automatically"),
    ):
        response = _submit(studio, "colorize", encode(media, "PNG"), params)
        status = wait_for(
            client, response.get_json()["status_url"], bearer(studio["token"]), finished, 120.0
        )
        assert status["status"] == "failed" and status["error_code"] == "no_colour_source"
        assert says in status["error"], status


def test_faces_of_a_grey_photo_are_coloured_automatically(studio):
    original = photo("jerry_seinfeld", 2)
    old = grey_rgb(original)
    status, result = _run(studio, "colorize", encode(old, "PNG"), {"face_steps": 5})
    details = status["details"]
    assert details["sources"] == ["faces"]
    assert details["face_colour"]["faces_used"] == 1 and details["seeds"] > 100
    assert details["face_colour"]["faces_found"] == 1
    ab = rgb_to_lab(result)[:, :, 1:]
    assert np.linalg.norm(ab, axis=2).mean() > 5  # colour, not grey
    assert np.abs(rgb_to_lab(result)[:, :, 0] - rgb_to_lab(old)[:, :, 0]).mean() < 1.5


def test_an_old_photo_is_enhanced_and_enlarged(studio):
    old = photo("ben_afflek")[:120, :100]
    status, result = _run(studio, "enhance", encode(old, "PNG"), {"upscale": "2"})
    assert result.shape == (240, 200, 3)
    details = status["details"]
    assert details["sr_model"] == "sr_fast2" and "upscale x2" in details["steps"]
    assert details["face_restoration"] is None
    status, result = _run(studio, "enhance", encode(old, "PNG"), {"upscale": "1", "sharpen": 1})
    assert result.shape == old.shape and "sharpen" in status["details"]["steps"]


def test_faces_are_restored_by_the_generator_at_the_chosen_strength(studio):
    old = photo("mindy_kaling")
    params = {"upscale": "1", "faces": 0.6, "face_steps": 5, "contrast": 0, "sharpen": 0}
    status, result = _run(studio, "enhance", encode(old, "PNG"), params)
    details = status["details"]
    assert details["faces"] == 0.6 and "faces" in details["steps"]
    assert details["face_restoration"]["faces_used"] == 1
    assert result.shape == old.shape


def test_the_page_has_the_hint_widget_the_notices_and_the_slider(studio):
    client = studio_client(studio["app"], "painter@example.com")
    page = client.get("/studio/").get_data(as_text=True)
    assert "js/colour_hints.js" in page and 'data-widget="colour_hints"' in page
    assert "colorize-face-notice" in page and "enhance-face-notice" in page
    assert "colorize-model-notice" in page  # no colorizer.onnx in the shared model folder
    for control in ("face_colour", "face_steps", "faces"):
        assert f'data-param="{control}"' in page
    data = {"media": (io.BytesIO(encode(photo("madonna"))), "m.jpg"), "effect": "enhance"}
    response = client.post(f"{API}/jobs", data=data, content_type="multipart/form-data")
    job_page = client.get(f"/studio/jobs/{response.get_json()['job_id']}").get_data(as_text=True)
    assert "js/before_after.js" in job_page and "data-before=" in job_page


def test_the_colorizer_slot_loads_an_operators_model(tmp_path):
    from tests.ml.test_restore_model_slot import tiny_colorizer
    from webapp.studio.effects.colorize import COLORIZER_FILE, load_colorizer

    assert load_colorizer(SimpleNamespace(model_dir=tmp_path)).model is None
    tiny_colorizer(tmp_path / COLORIZER_FILE)
    slot = load_colorizer(SimpleNamespace(model_dir=tmp_path))
    assert slot.model is not None and slot.model.name == COLORIZER_FILE
