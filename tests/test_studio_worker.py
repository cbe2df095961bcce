"""The studio queue for real: `flask studio worker` processes take jobs from the SQLite queue,
run the real effects on small photos and videos, report progress, stop on cancel, and a worker
killed mid-job leaves its job failed (here: one attempt allowed) and the input intact; retry then
runs it. Clients use personal API tokens, as API integrations do."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.studio_helpers import (
    STUDIO_EMAIL,
    Worker,
    bearer,
    encode,
    enrolled_and_strangers,
    finished,
    make_token,
    photo,
    scene_frames,
    top_level_boxes,
    two_people,
    wait_for,
    write_video,
)
from tests.support import create_user

API = "/api/v1/studio"


@pytest.fixture(scope="module")
def studio(tmp_path_factory, enrolled):
    """The enrolled instance (5 celebrities are employees) with a studio user and their token,
    and one worker running on it."""
    from tests.conftest import _app_from

    instance = tmp_path_factory.mktemp("studio-worker") / "instance"
    app = _app_from(instance, enrolled / "app.db", enrolled / "media")
    create_user(app, STUDIO_EMAIL, "correct-horse-battery", role="studio")
    token = make_token(app, STUDIO_EMAIL)
    state = {"app": app, "instance": instance, "token": token}
    state["worker"] = Worker(instance, "worker-1")  # a test may replace it with another
    try:
        state["worker"].wait_ready()
        yield state
    finally:
        state["worker"].stop()


@pytest.fixture
def api(studio):
    """A token-authenticated client with helpers."""
    client = studio["app"].test_client()
    headers = bearer(studio["token"])

    class Api:
        def post_job(
            self, effect, media: bytes, name: str, params: dict, source: bytes | None = None
        ):
            data = {
                "media": (io.BytesIO(media), name),
                "effect": effect,
                "params": json.dumps(params),
            }
            if source is not None:
                data["source"] = (io.BytesIO(source), "source.jpg")
            response = client.post(
                f"{API}/jobs", data=data, content_type="multipart/form-data", headers=headers
            )
            assert response.status_code == 202, response.get_json()
            return response.get_json()["status_url"]

        def upload(self, data: bytes, name: str) -> dict:
            response = client.post(
                f"{API}/media",
                data={"media": (io.BytesIO(data), name)},
                content_type="multipart/form-data",
                headers=headers,
            )
            assert response.status_code in (200, 201), response.get_json()
            return response.get_json()

        def get(self, url):
            return client.get(url, headers=headers)

        def get_range(self, url, byte_range):
            return client.get(url, headers={**headers, "Range": byte_range})

        def post(self, url):
            return client.post(url, headers=headers)

        def wait(self, url, done=finished, timeout=120.0, seen=None):
            return wait_for(client, url, headers, done, timeout, seen)

    return Api()


def video_file(tmp_path: Path, frames: int, audio: bool = False) -> bytes:
    path = write_video(tmp_path / f"clip{frames}.mp4", scene_frames(frames), audio=audio)
    return path.read_bytes()


def test_faces_are_listed_with_employees_and_the_main_subject_marked(api):
    uploaded = api.upload(encode(enrolled_and_strangers()), "scene.jpg")
    found = api.wait(uploaded["faces_url"], done=lambda body: body.get("status") != "pending")
    assert found["status"] == "done", found
    subject, employee, bystander = found["faces"]  # largest first
    assert [subject["id"], employee["id"], bystander["id"]] == [0, 1, 2]
    assert subject["box"][0] < 320 and employee["box"][0] > 320 and bystander["box"][1] > 180
    assert subject["main_subject"] and subject["suggest_keep"]
    assert subject["employee_id"] is None  # a rendered person, not enrolled
    assert employee["name"] == "ben_afflek" and employee["suggest_keep"]
    assert not employee["main_subject"]
    assert bystander["employee_id"] is None and not bystander["suggest_keep"]
    swap = api.get(f"{uploaded['faces_url']}?effect=face_swap").get_json()
    assert swap["status"] == "done" and [face["id"] for face in swap["faces"]] == [0, 1, 2]


def test_photo_jobs_run_to_a_labelled_result(api):
    from webapp.studio.provenance import DIGITAL_SOURCE_TYPE

    scene = enrolled_and_strangers()
    params = {"keep": [0, 1], "mode": "synthetic"}
    url = api.post_job("anonymize", encode(scene), "scene.jpg", params)
    seen = []
    status = api.wait(url, seen=seen)
    assert status["status"] == "done", status
    assert seen[-1] == ("done", 100)
    assert status["details"]["replaced_ids"] == [2] and status["details"]["kept_ids"] == [0, 1]
    result = status["result"]
    assert result["media_type"] == "image/jpeg"
    assert (result["width"], result["height"], result["frames"]) == (640, 360, 1)
    data = api.get(result["url"]).data
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (640, 360)
    assert DIGITAL_SOURCE_TYPE in image.info["xmp"].decode()
    download = api.get(result["download_url"])
    assert download.headers["Content-Disposition"].startswith("attachment")

    scene = two_people()
    url = api.post_job(
        "face_swap",
        encode(scene, "PNG"),
        "scene.png",
        {"consent": True, "targets": [1]},
        source=encode(photo("jerry_seinfeld")),
    )
    status = api.wait(url)
    assert status["status"] == "done", status
    assert status["details"]["swapped_ids"] == [1]
    image = Image.open(io.BytesIO(api.get(status["result"]["url"]).data))
    assert image.format == "PNG" and image.text["Synthetic"] == "true"
    swapped = np.asarray(image.convert("RGB")).astype(int)
    changed = np.abs(swapped - scene.astype(int)).sum(axis=2) > 30
    assert changed[:, 380:].sum() > 500  # the right face changed ...
    assert changed[:, :330].sum() == 0  # ... and the left one, not chosen, did not


def test_a_failing_job_fails_with_its_reason_and_keeps_its_input(api):
    url = api.post_job(
        "face_swap",
        encode(two_people()),
        "scene.jpg",
        {"consent": True},
        source=encode(np.full((200, 200, 3), 90, dtype=np.uint8)),  # a photo without a face
    )
    status = api.wait(url)
    assert status["status"] == "failed"
    assert status["error_code"] == "no_face"
    assert "source" in status["error"]
    assert api.get(status["input"]["url"]).status_code == 200


def test_video_job_reports_progress_and_plays_in_browsers(api, tmp_path):
    import av

    url = api.post_job("anonymize", video_file(tmp_path, 20, audio=True), "clip.mp4",
                       {"mode": "blur"})  # fmt: skip
    seen = []
    status = api.wait(url, seen=seen)
    assert status["status"] == "done", status
    states = [state for i, (state, _) in enumerate(seen) if i == 0 or seen[i - 1][0] != state]
    assert states in (["queued", "running", "done"], ["running", "done"]), seen
    progress = [value for state, value in seen if state == "running"]
    assert progress == sorted(progress) and any(0 < value < 100 for value in progress)
    result = status["result"]
    assert result["media_type"] == "video/mp4"
    assert (result["width"], result["height"], result["frames"]) == (320, 240, 20)
    assert result["duration"] == pytest.approx(2.0, abs=0.15)
    data = api.get(result["url"]).data
    boxes = top_level_boxes(data)
    assert boxes.index("moov") < boxes.index("mdat")  # faststart
    path = tmp_path / "result.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert len(container.streams.audio) == 1  # the sound is kept
        assert container.metadata.get("synthetic") == "true"
        assert "Synthetic media" in container.metadata.get("comment", "")
        frame = next(container.decode(video)).to_ndarray(format="rgb24")
    assert frame.shape == (240, 320, 3)
    # Players fetch videos by byte ranges.
    part = api.get_range(result["url"], "bytes=0-99")
    assert part.status_code == 206 and len(part.data) == 100


def test_cancel_stops_a_running_job(api, studio, tmp_path):
    url = api.post_job("anonymize", video_file(tmp_path, 200), "long.mp4", {"mode": "synthetic"})
    api.wait(url, done=lambda body: body["status"] == "running" and body["progress"] > 2)
    cancelled = api.post(f"{url}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    time.sleep(2.0)  # the worker notices at its next progress report
    status = api.get(url).get_json()
    assert status["status"] == "cancelled" and status["result"] is None
    assert "was stopped" in studio["worker"].output()
    assert not list((studio["instance"] / "media" / "studio" / "tmp").glob("job-*"))


def test_a_killed_worker_leaves_no_job_running_and_retry_runs_it(api, studio, tmp_path):
    clip = video_file(tmp_path, 80)
    url = api.post_job("anonymize", clip, "long.mp4", {"mode": "synthetic"})
    api.wait(url, done=lambda body: body["status"] == "running" and body["progress"] > 2)
    studio["worker"].process.kill()  # SIGKILL: no chance to clean up
    studio["worker"].process.wait()
    status = api.get(url).get_json()
    assert status["status"] == "running"  # as the dead worker left it
    input_path = studio["instance"] / "media" / _stored_path(studio["app"], status["input"]["id"])
    # A new worker (allowed one attempt per job) reaps it at start: failed, with the reason.
    second = Worker(studio["instance"], "worker-2", STUDIO_MAX_ATTEMPTS=1)
    studio["worker"] = second
    status = api.wait(url, timeout=60)
    assert status["status"] == "failed"
    assert status["error_code"] == "worker_lost"
    assert "worker stopped" in status["error"]
    assert hashlib.sha256(input_path.read_bytes()).hexdigest() == hashlib.sha256(clip).hexdigest()
    second.wait_ready()
    retried = api.post(f"{url}/retry")
    assert retried.status_code == 202
    status = api.wait(url, timeout=180)
    assert status["status"] == "done", status
    assert status["attempts"] == 1
    assert status["result"]["frames"] == 80


def _stored_path(app, media_id: int) -> str:
    from webapp.extensions import db
    from webapp.studio.models import MediaAsset

    with app.app_context():
        return db.session.get(MediaAsset, media_id).path
