"""The recognition API refuses bad uploads and bad callers with clear 4xx JSON."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.support import create_user, login, make_kiosk


@pytest.fixture
def kiosk_headers(app, loaded_models):
    return {"X-Kiosk-Token": make_kiosk(app)}


def post_image(client, data: bytes, headers, name="photo.jpg"):
    return client.post(
        "/api/v1/recognize", data={"image": (io.BytesIO(data), name)}, headers=headers
    )


def jpeg_bytes(size=(320, 240), color=(120, 160, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.data[:300]
    assert response.is_json
    assert response.json["error"] == code
    assert response.json["message"]


def test_missing_field_is_400(client, kiosk_headers):
    response = client.post("/api/v1/recognize", data={}, headers=kiosk_headers)
    assert_error(response, 400, "missing_image")


def test_empty_file_is_400(client, kiosk_headers):
    assert_error(post_image(client, b"", kiosk_headers), 400, "empty_file")


def test_text_file_is_400(client, kiosk_headers):
    response = post_image(client, b"name,similarity\nalice,0.9\n", kiosk_headers, "faces.csv")
    assert_error(response, 400, "not_an_image")


def test_truncated_jpeg_is_400(client, kiosk_headers, dataset):
    photo = next((dataset / "val" / "ben_afflek").iterdir()).read_bytes()
    assert_error(post_image(client, photo[: len(photo) // 2], kiosk_headers), 400, "corrupt_image")


def test_photo_without_a_face_is_422(client, kiosk_headers):
    assert_error(post_image(client, jpeg_bytes(), kiosk_headers), 422, "no_face")


def test_image_with_too_many_pixels_is_413(app, client, kiosk_headers):
    app.config["MAX_IMAGE_PIXELS"] = 100 * 100
    assert_error(post_image(client, jpeg_bytes((200, 200)), kiosk_headers), 413, "image_too_large")


def test_upload_over_the_size_limit_is_413(app, client, kiosk_headers):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    response = post_image(client, b"\xff" * 20_000, kiosk_headers)
    assert_error(response, 413, "request_entity_too_large")


def test_no_credentials_is_401(client):
    assert_error(post_image(client, jpeg_bytes(), {}), 401, "unauthorized")


def test_unknown_kiosk_token_is_401(client):
    response = post_image(client, jpeg_bytes(), {"X-Kiosk-Token": "kiosk_not-a-real-token"})
    assert_error(response, 401, "invalid_token")


def test_revoked_kiosk_token_is_401(app, client, loaded_models):
    from webapp.attendance.services import revoke_kiosk

    token = make_kiosk(app, "hall")
    assert post_image(client, jpeg_bytes(), {"X-Kiosk-Token": token}).status_code == 422
    with app.app_context():
        revoke_kiosk("hall")
    assert_error(post_image(client, jpeg_bytes(), {"X-Kiosk-Token": token}), 401, "invalid_token")


def test_studio_user_is_403(app, client):
    create_user(app, "artist@example.com", "studio-password", role="studio")
    login(client, "artist@example.com", "studio-password")
    assert_error(post_image(client, jpeg_bytes(), {}), 403, "forbidden")


def test_kiosk_token_is_stored_only_as_a_hash(app):
    from webapp.attendance.models import Kiosk
    from webapp.extensions import db

    token = make_kiosk(app, "gate")
    with app.app_context():
        kiosk = db.session.query(Kiosk).filter_by(name="gate").one()
        assert token not in (kiosk.token_hash, kiosk.name)
        assert len(kiosk.token_hash) == 64


def test_unknown_api_route_answers_json_404(client):
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_models_not_ready_is_503(app, client):
    """A worker whose models are still loading says so instead of failing."""
    from webapp.registry import ModelRegistry

    app.extensions["model_registry"] = ModelRegistry()
    token = make_kiosk(app, "early")
    response = post_image(client, jpeg_bytes(), {"X-Kiosk-Token": token})
    assert_error(response, 503, "models_not_ready")
    assert response.headers["Retry-After"] == "5"
