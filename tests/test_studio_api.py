"""Studio API without a worker: upload checks, ownership, tokens, job parameters, cancel and
retry of queued jobs, the OpenAPI document and the pages."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import _app_from
from tests.studio_helpers import (
    OTHER_EMAIL,
    STUDIO_EMAIL,
    audio_only_mp4,
    bearer,
    encode,
    make_token,
    photo,
    scene_frames,
    studio_client,
    two_people,
    write_video,
)

API = "/api/v1/studio"


@pytest.fixture
def studio_app(tmp_path, migrated_db):
    """An app with small studio limits so the refusals are cheap to reach."""
    return _app_from(
        tmp_path / "instance",
        migrated_db,
        STUDIO_MAX_UPLOAD_MB=1,
        MAX_IMAGE_PIXELS=2_000_000,
        STUDIO_MAX_VIDEO_SECONDS=3.0,
        STUDIO_MAX_VIDEO_PIXELS=320 * 240,
    )


@pytest.fixture
def pix(studio_app):
    return studio_client(studio_app)


def stored_state(app) -> tuple[int, list[str]]:
    """(media rows, files under the studio folder other than empty scratch folders)."""
    from webapp.extensions import db
    from webapp.studio.models import MediaAsset

    with app.app_context():
        rows = db.session.query(MediaAsset).count()
    root = Path(app.config["MEDIA_DIR"]) / "studio"
    files = (
        [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()] if root.exists() else []
    )
    return rows, files


def upload(client, data: bytes, name: str = "file.bin", headers=None):
    return client.post(
        f"{API}/media",
        data={"media": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        headers=headers or {},
    )


def video_bytes(tmp_path: Path, name: str, **kwargs) -> bytes:
    frames = kwargs.pop("frames", None) or scene_frames(20)
    return write_video(tmp_path / name, frames, **kwargs).read_bytes()


def test_bad_uploads_are_refused_and_nothing_is_kept(studio_app, pix, tmp_path):
    truncated = encode(photo("madonna"))[:-2000]
    bomb = encode(np.zeros((1500, 1500, 3), dtype=np.uint8), "PNG")  # 2.25 MP > 2 MP allowed
    fake_mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x13" * 5000
    mkv = video_bytes(tmp_path, "clip.mkv", container_format="matroska")
    too_long = video_bytes(tmp_path, "long.mp4", frames=scene_frames(40), fps=10)  # 4 s > 3 s
    too_wide = video_bytes(
        tmp_path, "wide.mp4", frames=[np.zeros((240, 330, 3), np.uint8)] * 5
    )  # 330x240 > 320x240
    cases = [
        (b"", "empty.jpg", 400, "empty_file"),
        (b"hello, I am text pretending to be a photo", "photo.jpg", 415, "unsupported_media"),
        (encode(photo("madonna"), "GIF"), "a.gif", 400, "unsupported_image"),
        (encode(photo("madonna"), "BMP"), "a.bmp", 400, "unsupported_image"),
        (truncated, "cut.jpg", 400, "corrupt_image"),
        (bomb, "bomb.png", 413, "image_too_large"),
        (b"\x89PNG" + b"x" * (1024 * 1024 + 10), "big.png", 413, "file_too_large"),
        (fake_mp4, "fake.mp4", 400, "corrupt_video"),
        (
            b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 500,
            "a.heic",
            400,
            "unsupported_image",
        ),
        (audio_only_mp4(tmp_path / "audio.mp4").read_bytes(), "audio.mp4", 400, "no_video_stream"),
        (mkv, "clip.mkv", 415, "unsupported_video"),
        (too_long, "long.mp4", 413, "video_too_long"),
        (too_wide, "wide.mp4", 413, "video_too_large"),
    ]
    for data, name, status, code in cases:
        response = upload(pix, data, name)
        assert response.status_code == status, (name, response.get_json())
        assert response.get_json()["error"] == code, name
        assert response.get_json()["message"]
        assert stored_state(studio_app) == (0, []), name
    # A request over twice the per-file limit is cut off by the request size limit.
    response = upload(pix, b"\xff\xd8" + b"0" * (2 * 1024 * 1024 + 100), "huge.jpg")
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"
    response = pix.post(f"{API}/media", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and response.get_json()["error"] == "missing_media"
    assert stored_state(studio_app) == (0, [])


def exif_rotated_jpeg() -> bytes:
    """A 300x200 JPEG whose EXIF says: turn 90 degrees to show it (so it displays 200x300)."""
    image = Image.fromarray(np.asarray(Image.fromarray(photo("madonna")).resize((300, 200))))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def test_good_uploads_are_typed_from_content(studio_app, pix, tmp_path):
    rgb = photo("madonna")
    sixteen = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    buffer = io.BytesIO()
    sixteen.save(buffer, format="PNG")
    cmyk = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(cmyk, format="JPEG")
    cases = [
        (encode(rgb, "PNG"), "really-a-png.jpg", "image/png"),  # the name lies; content wins
        (encode(rgb, "WEBP"), "photo.webp", "image/webp"),
        (cmyk.getvalue(), "cmyk.jpg", "image/jpeg"),
        (buffer.getvalue(), "sixteen.png", "image/png"),
        (video_bytes(tmp_path, "a.mp4", audio=True), "a.mp4", "video/mp4"),
        (video_bytes(tmp_path, "a.mov", container_format="mov"), "a.mov", "video/quicktime"),
        (video_bytes(tmp_path, "a.webm", codec="libvpx-vp9"), "a.webm", "video/webm"),
    ]
    for data, name, content_type in cases:
        response = upload(pix, data, name)
        assert response.status_code == 201, (name, response.get_json())
        body = response.get_json()
        assert body["media_type"] == content_type, name
        if content_type.startswith("video/"):
            assert body["kind"] == "video"
            assert (body["width"], body["height"], body["frames"]) == (320, 240, 20)
            assert body["duration"] == pytest.approx(2.0, abs=0.15)
        file = pix.get(body["url"])
        assert file.status_code == 200 and file.data == data and file.mimetype == content_type
    rotated = upload(pix, exif_rotated_jpeg(), "rotated.jpg").get_json()
    assert (rotated["width"], rotated["height"]) == (200, 300)
    again = upload(pix, encode(rgb, "PNG"), "same-again.png")
    assert again.status_code == 200  # the same file is not stored twice
    rows, files = stored_state(studio_app)
    assert rows == len(cases) + 1 and len(files) == rows


def test_users_see_only_their_own_media_and_jobs(studio_app, pix):
    other = studio_client(studio_app, OTHER_EMAIL)
    mine = upload(pix, encode(two_people()), "scene.jpg").get_json()
    job = pix.post(
        f"{API}/jobs",
        data={"media_id": mine["id"], "effect": "anonymize", "params": '{"mode": "blur"}'},
    )
    assert job.status_code == 202, job.get_json()
    job_url = job.get_json()["status_url"]
    for url in (
        f"{API}/media/{mine['id']}",
        mine["url"],
        f"{mine['url']}?download=1",
        mine["faces_url"],
        job_url,
    ):
        response = other.get(url)
        assert response.status_code == 404, url
        assert response.get_json()["error"] == "not_found"
    for action in ("cancel", "retry"):
        assert other.post(f"{job_url}/{action}").status_code == 404
    response = other.post(f"{API}/jobs", data={"media_id": mine["id"], "effect": "anonymize"})
    assert response.status_code == 404
    assert other.get(f"{API}/jobs").get_json()["jobs"] == []
    assert other.get(f"/studio/jobs/{job.get_json()['job_id']}").status_code == 404
    assert len(pix.get(f"{API}/jobs").get_json()["jobs"]) == 1
    assert pix.get(job_url).get_json()["status"] == "queued"


def test_tokens_work_and_revoked_or_garbage_tokens_are_refused(studio_app, pix):
    anonymous = studio_app.test_client()
    assert anonymous.get(f"{API}/jobs").status_code == 401
    token = make_token(studio_app, STUDIO_EMAIL)
    assert token.startswith("fp_")
    assert anonymous.get(f"{API}/jobs", headers=bearer(token)).status_code == 200
    # A token request needs no CSRF token and acts as its owner.
    created = upload(anonymous, encode(photo("madonna")), "m.jpg", headers=bearer(token))
    assert created.status_code == 201
    assert pix.get(created.get_json()["url"]).status_code == 200
    for garbage in ("nonsense", token + "x", ""):
        response = anonymous.get(f"{API}/jobs", headers=bearer(garbage))
        assert response.status_code == 401, garbage
    response = anonymous.get(f"{API}/jobs", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    # Stored hashed: the secret is nowhere in the database.
    from webapp.auth.models import ApiToken
    from webapp.extensions import db

    with studio_app.app_context():
        stored = db.session.query(ApiToken).one()
        assert token not in (stored.token_hash, stored.prefix) and len(stored.token_hash) == 64
        token_id = stored.id
    # Revoked on the tokens page: refused from then on, even with a valid session alongside.
    page = pix.get("/studio/tokens")
    assert page.status_code == 200 and b"tests" in page.data
    assert pix.post(f"/studio/tokens/{token_id}/revoke").status_code == 302
    response = anonymous.get(f"{API}/jobs", headers=bearer(token))
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"
    assert pix.get(f"{API}/jobs", headers=bearer(token)).status_code == 401
    # A token made on the page works; the page shows it once.
    made = pix.post("/studio/tokens", data={"name": "laptop"})
    assert made.status_code == 200
    secret = made.data.split(b'id="new-token" class="token">')[1].split(b"<")[0].decode()
    assert anonymous.get(f"{API}/jobs", headers=bearer(secret)).status_code == 200
    assert secret.encode() not in pix.get("/studio/tokens").data


def test_managers_and_unknown_users_cannot_use_the_studio(studio_app):
    from tests.support import create_user, login

    create_user(studio_app, "boss@example.com", "correct-horse-battery", role="manager")
    manager = login(studio_app.test_client(), "boss@example.com", "correct-horse-battery")
    assert manager.get(f"{API}/jobs").status_code == 403
    assert manager.get("/studio/").status_code == 403
    result = studio_app.test_cli_runner().invoke(args=["users", "token", "nobody@example.com"])
    assert result.exit_code != 0 and "no active account" in result.output


def test_job_requests_are_checked_before_anything_is_stored(studio_app, pix, tmp_path):
    scene = encode(two_people())
    source = encode(photo("jerry_seinfeld"))

    def post(effect, params, with_source=False, media=scene):
        data = {"media": (io.BytesIO(media), "scene.jpg"), "effect": effect}
        if params is not None:
            data["params"] = params if isinstance(params, str) else json.dumps(params)
        if with_source:
            data["source"] = (io.BytesIO(source), "source.jpg")
        return pix.post(f"{API}/jobs", data=data, content_type="multipart/form-data")

    cases = [
        (post("sharpen", {}), "unknown_effect"),
        (post("", {}), "missing_effect"),
        (post("anonymize", "{not json"), "bad_params"),
        (post("anonymize", "[1, 2]"), "bad_params"),
        (post("anonymize", {"mode": "erase"}), "bad_params"),
        (post("anonymize", {"keep": "all"}), "bad_params"),
        (post("anonymize", {"keep": [-1]}), "bad_params"),
        (post("anonymize", {"color": "red"}), "unknown_param"),
        (post("face_swap", {"consent": True}), "missing_source"),
        (post("face_swap", {}, with_source=True), "consent_required"),
        (post("face_swap", {"consent": "yes"}, with_source=True), "consent_required"),
        (post("anonymize", {}, with_source=True), "unexpected_source"),
        (post("anonymize", {}, media=b"GIF89a not really"), "unsupported_media"),
    ]
    for response, code in cases:
        assert 400 <= response.status_code < 500, (code, response.get_json())
        assert response.get_json()["error"] == code
        assert stored_state(studio_app) == (0, []), code
    # A video cannot be the source face.
    video = upload(pix, video_bytes(tmp_path, "v.mp4"), "v.mp4").get_json()
    response = pix.post(
        f"{API}/jobs",
        data={
            "media": (io.BytesIO(scene), "scene.jpg"),
            "effect": "face_swap",
            "params": '{"consent": true}',
            "source_id": str(video["id"]),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and response.get_json()["error"] == "image_required"
    assert stored_state(studio_app)[0] == 1  # only the video uploaded on purpose


def test_queued_jobs_cancel_and_retry(studio_app, pix):
    from webapp.studio.queue import pending_count

    response = pix.post(
        f"{API}/jobs",
        data={
            "media": (io.BytesIO(encode(two_people())), "scene.jpg"),
            "effect": "face_swap",
            "params": '{"consent": true, "targets": [1]}',
            "source": (io.BytesIO(encode(photo("jerry_seinfeld"))), "jerry.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"job_id", "status_url"}
    assert response.headers["Location"] == body["status_url"]
    status = pix.get(body["status_url"]).get_json()
    assert status["status"] == "queued" and status["progress"] == 0 and status["result"] is None
    assert status["params"] == {"consent": True, "targets": [1], "person": None}
    with studio_app.app_context():
        assert pending_count() == 1  # the message really is in the SQLite queue
    assert pix.post(f"{body['status_url']}/retry").status_code == 409
    cancelled = pix.post(f"{body['status_url']}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    again = pix.post(f"{body['status_url']}/cancel")
    assert again.status_code == 409 and again.get_json()["error"] == "job_finished"
    retried = pix.post(f"{body['status_url']}/retry")
    assert retried.status_code == 202 and retried.get_json()["status"] == "queued"
    with studio_app.app_context():
        assert pending_count() == 2
    # The page shows the job; its viewer renders while it waits.
    assert b"job-queued" in pix.get("/studio/").data
    page = pix.get(f"/studio/jobs/{body['job_id']}")
    assert page.status_code == 200 and b"job-result" in page.data


def test_face_detection_waits_for_a_worker(studio_app, pix):
    from webapp.studio.queue import pending_count

    media = upload(pix, encode(two_people()), "scene.jpg").get_json()
    first = pix.get(media["faces_url"])
    assert first.status_code == 202 and first.get_json()["status"] == "pending"
    assert first.headers["Retry-After"] == "1"
    assert pix.get(media["faces_url"]).status_code == 202
    with studio_app.app_context():
        assert pending_count() == 1  # asked once, not once per poll
    assert pix.get(f"{media['faces_url']}?effect=sharpen").status_code == 400


def test_session_posts_need_the_csrf_token(tmp_path, migrated_db):
    app = _app_from(tmp_path / "csrf", migrated_db, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    from tests.support import create_user

    create_user(app, STUDIO_EMAIL, "correct-horse-battery", role="studio")
    page = client.get("/login")
    csrf = page.data.split(b'name="csrf_token" type="hidden" value="')[1].split(b'"')[0].decode()
    client.post(
        "/login",
        data={"email": STUDIO_EMAIL, "password": "correct-horse-battery", "csrf_token": csrf},
    )
    data = {"media": (io.BytesIO(encode(photo("madonna"))), "m.jpg")}
    refused = client.post(f"{API}/media", data=data, content_type="multipart/form-data")
    assert refused.status_code == 400
    data = {"media": (io.BytesIO(encode(photo("madonna"))), "m.jpg")}
    accepted = client.post(
        f"{API}/media", data=data, content_type="multipart/form-data", headers={"X-CSRFToken": csrf}
    )
    assert accepted.status_code == 201
    token = make_token(app, STUDIO_EMAIL)
    data = {"media": (io.BytesIO(encode(photo("elton_john"))), "e.jpg")}
    fresh = app.test_client()
    with_token = fresh.post(
        f"{API}/media", data=data, content_type="multipart/form-data", headers=bearer(token)
    )
    assert with_token.status_code == 201


def test_openapi_document_matches_the_routes(studio_app):
    doc = studio_app.test_client().get(f"{API}/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    base = doc["servers"][0]["url"]
    assert base == API
    routes = set()
    for rule in studio_app.url_map.iter_rules():
        if rule.rule.startswith(API):
            path = rule.rule[len(API) :]
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)  # <int:job_id> -> {job_id}
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert documented == routes
    for path, item in doc["paths"].items():
        for operation in item.values():
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert names == {part[1:-1] for part in path.split("/") if part.startswith("{")}
    schemas = doc["components"]["schemas"]
    assert {"url", "media_type", "width", "height", "duration", "frames"} <= set(
        schemas["Result"]["properties"]
    )
    job_form = doc["paths"]["/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert {"media", "effect", "params", "source"} <= set(job_form["schema"]["properties"])
    assert "consent" in job_form["schema"]["properties"]["params"]["description"]
    refs = list(_refs(doc))
    assert refs and all(ref.split("/")[-1] in schemas for ref in refs)


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_reaper_requeues_or_fails_jobs_whose_worker_is_gone(studio_app, pix):
    """Jobs left `running` by a dead worker: queued again, or failed after the last attempt."""
    import socket
    import subprocess
    import sys
    from datetime import timedelta

    from webapp.db import utcnow
    from webapp.extensions import db
    from webapp.studio.models import StudioJob
    from webapp.studio.queue import pending_count
    from webapp.studio.tasks import reap_lost_jobs

    media = upload(pix, encode(two_people()), "scene.jpg").get_json()
    ids = [
        pix.post(f"{API}/jobs", data={"media_id": media["id"], "effect": "anonymize"}).get_json()[
            "job_id"
        ]
        for _ in range(4)
    ]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_worker = f"{socket.gethostname()}:{dead.stdout.strip()}"
    now = utcnow()
    rows = {
        ids[0]: (dead_worker, now, 1),  # this host, process gone, first attempt: queued again
        ids[1]: (dead_worker, now, 2),  # ... second attempt (the last): failed
        ids[2]: ("elsewhere:123", now - timedelta(minutes=5), 1),  # silent too long: queued
        ids[3]: ("elsewhere:123", now, 1),  # another machine, beating: left alone
    }
    with studio_app.app_context():
        before = pending_count()
        for job_id, (worker, beat, attempts) in rows.items():
            job = db.session.get(StudioJob, job_id)
            job.status, job.worker, job.heartbeat_at, job.attempts = (
                "running",
                worker,
                beat,
                attempts,
            )
        db.session.commit()
        assert sorted(reap_lost_jobs()) == sorted(ids[:3])
        assert pending_count() == before + 2
    states = {i: pix.get(f"{API}/jobs/{i}").get_json() for i in ids}
    assert states[ids[0]]["status"] == "queued"
    assert "stopped while running" in states[ids[0]]["message"]
    assert states[ids[1]]["status"] == "failed"
    assert states[ids[1]]["error_code"] == "worker_lost"
    assert "tried 2 times" in states[ids[1]]["error"]
    assert states[ids[2]]["status"] == "queued"
    assert states[ids[3]]["status"] == "running"
    assert pix.get(media["url"]).status_code == 200  # the input is still there
