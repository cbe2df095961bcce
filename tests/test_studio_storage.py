"""Studio uploads and jobs when the input or the disk is hostile: a PNG claiming 3.6 gigapixels
or a photo over the pixel limit answers 413 JSON on every upload path, a media folder that refuses
writes answers 503 (507 when full) and stores nothing, and a running job whose media folder turns
read-only fails at once with the storage error instead of being reaped as "worker_lost" later."""

from __future__ import annotations

import errno
import io
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import _app_from
from tests.studio_helpers import (
    STUDIO_EMAIL,
    Worker,
    bearer,
    encode,
    finished,
    make_token,
    photo,
    studio_client,
    wait_for,
)
from tests.support import create_user

API = "/api/v1/studio"


def png_claiming(width: int, height: int) -> bytes:
    """A small, valid-looking PNG whose header claims `width` x `height` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
def studio_app(tmp_path, migrated_db):
    return _app_from(tmp_path / "instance", migrated_db, MAX_IMAGE_PIXELS=2_000_000)


@pytest.fixture
def pix(studio_app):
    return studio_client(studio_app)


def _stored(app) -> list[Path]:
    root = Path(app.config["MEDIA_DIR"]) / "studio"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize("claimed", [(60_000, 60_000), (3000, 3000)], ids=["bomb", "huge"])
def test_oversized_images_answer_413_on_every_upload_path(studio_app, pix, claimed):
    bomb = png_claiming(*claimed)
    good = encode(photo("madonna"))
    requests = {
        "media": (f"{API}/media", {"media": (io.BytesIO(bomb), "b.png")}),
        "job media": (
            f"{API}/jobs",
            {"media": (io.BytesIO(bomb), "b.png"), "effect": "anonymize"},
        ),
        "job source": (
            f"{API}/jobs",
            {
                "media": (io.BytesIO(good), "m.jpg"),
                "source": (io.BytesIO(bomb), "b.png"),
                "effect": "face_swap",
                "params": json.dumps({"consent": True}),
            },
        ),
    }
    for name, (url, data) in requests.items():
        response = pix.post(url, data=data, content_type="multipart/form-data")
        assert response.status_code == 413, (name, response.get_data(as_text=True)[:300])
        assert response.get_json()["error"] == "image_too_large", name
    assert _stored(studio_app) == []


def test_a_media_folder_that_refuses_writes_answers_503_and_keeps_nothing(studio_app, pix):
    studio_app.config["MEDIA_DIR"] = "/sys/face-platform-media"  # sysfs refuses mkdir (EPERM)
    if Path("/sys/face-platform-media").exists():
        pytest.skip("sysfs took the folder")
    response = pix.post(
        f"{API}/media",
        data={"media": (io.BytesIO(encode(photo("madonna"))), "m.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "storage_unavailable" and "storage" in body["message"]


def test_full_and_read_only_storage_errors_are_told_apart():
    from webapp.studio.storage import storage_error

    full = storage_error(OSError(errno.ENOSPC, "No space left on device"))
    assert (full.status, full.code) == (507, "storage_full")
    quota = storage_error(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert quota.status == 507
    read_only = storage_error(OSError(errno.EROFS, "Read-only file system"))
    assert (read_only.status, read_only.code) == (503, "storage_unavailable")


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr (e2fsprogs)")
def test_a_job_fails_at_once_when_the_media_folder_turns_read_only(tmp_path, migrated_db):
    instance = tmp_path / "instance"
    app = _app_from(instance, migrated_db)
    create_user(app, STUDIO_EMAIL, "correct-horse-battery", role="studio")
    headers = bearer(make_token(app, STUDIO_EMAIL))
    client = app.test_client()
    rgb = np.asarray(photo("madonna"))
    uploaded = client.post(
        f"{API}/media",
        data={"media": (io.BytesIO(encode(rgb)), "m.jpg")},
        content_type="multipart/form-data",
        headers=headers,
    ).get_json()
    studio = Path(app.config["MEDIA_DIR"]) / "studio"
    locked = [studio / "tmp", studio]
    if subprocess.run(["chattr", "+i", *map(str, locked)], capture_output=True).returncode:
        pytest.skip("this filesystem has no immutable flag")
    worker = Worker(instance, "worker-readonly")
    try:
        worker.wait_ready()
        response = client.post(
            f"{API}/jobs",
            data={"media_id": str(uploaded["id"]), "effect": "anonymize",
                  "params": json.dumps({"mode": "blur"})},
            headers=headers,
        )  # fmt: skip
        assert response.status_code == 202, response.get_json()
        status = wait_for(client, response.get_json()["status_url"], headers, finished, 120.0)
        assert status["status"] == "failed", status
        assert status["error_code"] == "storage_unavailable" and status["attempts"] == 1
        assert "storage" in status["error"]
    finally:
        subprocess.run(["chattr", "-i", *map(str, locked)], check=False)
        worker.stop()


def test_extra_outputs_are_served_beside_their_result_by_name_only(studio_app, pix, tmp_path):
    from webapp.extensions import db
    from webapp.studio.models import MediaAsset
    from webapp.studio.storage import store_extras

    uploaded = pix.post(
        f"{API}/media",
        data={"media": (io.BytesIO(encode(photo("madonna"))), "m.jpg")},
        content_type="multipart/form-data",
    ).get_json()
    track = tmp_path / "subtitles.vtt"
    track.write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n")
    with studio_app.app_context():
        asset = db.session.get(MediaAsset, uploaded["id"])
        assert store_extras(asset.path, {"subtitles.vtt": track}) == ["subtitles.vtt"]
    response = pix.get(f"{API}/media/{uploaded['id']}/extra?name=subtitles.vtt")
    assert response.status_code == 200 and response.mimetype == "text/vtt"
    assert response.get_data(as_text=True).startswith("WEBVTT")
    for name in ("../app.db", "", "missing.vtt"):
        assert pix.get(f"{API}/media/{uploaded['id']}/extra?name={name}").status_code == 404
    stranger = studio_client(studio_app, "stranger@example.com")
    assert stranger.get(f"{API}/media/{uploaded['id']}/extra?name=subtitles.vtt").status_code == 404
