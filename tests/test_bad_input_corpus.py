"""The bad-input corpus (tests/bad_inputs.py) against every non-studio upload route: each hostile
file answers 4xx (JSON on the APIs, a named rejection on the pages), nothing is stored, and odd
but valid images (CMYK, 16-bit grey, EXIF-rotated) are read the right way up.

The studio upload routes get the same corpus in their own tests once the studio rewrite lands."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from ml.images import decode_image
from tests.bad_inputs import odd_but_valid, refused
from tests.support import create_user, login, make_kiosk

TABLES = ("enrollment_photos", "face_templates", "gesture_samples", "attendance_events")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, tuple[str, bytes]]:
    return refused(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def world(app, loaded_models):
    """An admin client, a kiosk session and an employee with recorded consent."""
    from webapp.employees.consent import record_consent
    from webapp.employees.services import create_employee

    create_user(app)
    client = login(app.test_client())
    token = make_kiosk(app)
    session = client.post("/api/v1/kiosk/sessions", headers={"X-Kiosk-Token": token})
    with app.app_context():
        employee = create_employee("Madonna")
        record_consent(employee, None)
        employee_id = employee.id
    return client, token, session.get_json()["session_id"], employee_id


def stored(app) -> tuple[list[Path], dict[str, int]]:
    """Files under MEDIA_DIR and row counts of every table an upload could add to."""
    media = Path(app.config["MEDIA_DIR"])
    files = sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []
    db_file = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with sqlite3.connect(db_file) as db:
        counts = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    return files, counts


def api_routes(world):
    """(name, send(file name, bytes) -> response) for each JSON upload route."""
    client, token, session_id, _ = world
    json_accept = {"Accept": "application/json"}

    def recognize(name, data):
        return client.post(
            "/api/v1/recognize", data={"image": (io.BytesIO(data), name)}, headers=json_accept
        )

    def kiosk_frame(name, data):
        return client.post(
            f"/api/v1/kiosk/sessions/{session_id}/frames",
            data={"frame": (io.BytesIO(data), name)},
            headers={"X-Kiosk-Token": token},
        )

    def gesture_frame(name, data):
        return client.post(
            "/admin/gestures/samples/frame",
            data={"frame": (io.BytesIO(data), name), "label": "O"},
            headers=json_accept,
        )

    return [
        ("recognize", recognize),
        ("kiosk-frame", kiosk_frame),
        ("gesture-frame", gesture_frame),
    ]


def test_every_api_upload_route_refuses_the_corpus_with_4xx_json(app, world, corpus):
    before = stored(app)
    failures = []
    for route, send in api_routes(world):
        for case, (name, data) in corpus.items():
            response = send(name, data)
            body = response.get_json(silent=True) or {}
            if not (
                400 <= response.status_code < 500 and body.get("error") and body.get("message")
            ):
                failures.append(f"{route}/{case}: {response.status_code} {response.data[:120]!r}")
    assert failures == []
    assert stored(app) == before


def test_page_upload_routes_refuse_each_file_with_a_message_and_store_nothing(app, world, corpus):
    client, _, _, employee_id = world
    before = stored(app)
    failures = []
    for case, (name, data) in corpus.items():
        for url, extra in (
            (f"/admin/employees/{employee_id}/photos", {}),
            ("/admin/gestures/samples", {"label": "O"}),
        ):
            response = client.post(
                url, data={"photos": [(io.BytesIO(data), name)], **extra}, follow_redirects=True
            )
            text = response.get_data(as_text=True)
            if response.status_code != 200 or 'class="flash error"' not in text:
                failures.append(f"{url} {case}: {response.status_code}")
    assert failures == []
    assert stored(app) == before


def test_odd_but_valid_images_are_read_upright():
    from tests.studio_helpers import photo

    upright = photo("madonna")[:, 30:170].astype(np.int16)
    for case, (_, data, shape) in odd_but_valid().items():
        rgb = decode_image(data)
        assert rgb.shape[:2] == shape, case
        grey_error = np.abs(rgb.mean(axis=2) - upright.mean(axis=2)).mean()
        assert grey_error < 12, (case, grey_error)  # the same picture, not rotated or garbled


def test_odd_but_valid_face_photos_enroll(app, world):
    client, _, _, employee_id = world
    odd = odd_but_valid()
    response = client.post(
        f"/admin/employees/{employee_id}/photos",
        data={"photos": [(io.BytesIO(data), name) for name, data, _ in odd.values()]},
        follow_redirects=True,
    )
    assert response.status_code == 200
    files, counts = stored(app)
    assert counts["enrollment_photos"] == len(odd), response.get_data(as_text=True)[-2000:]
    assert len(files) == len(odd)
