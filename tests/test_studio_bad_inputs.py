"""The bad-input corpus (tests/bad_inputs.py) against every studio upload path, and malformed
job requests (deeply nested params, media ids that are not ASCII digits or overflow a database
integer): each answers 4xx JSON with a message and nothing is stored."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.bad_inputs import refused
from tests.conftest import _app_from
from tests.studio_helpers import encode, photo, studio_client

API = "/api/v1/studio"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, tuple[str, bytes]]:
    return refused(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def studio_app(tmp_path, migrated_db):
    return _app_from(tmp_path / "instance", migrated_db)


def _stored(app) -> list[Path]:
    root = Path(app.config["MEDIA_DIR"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _job_rows(app) -> int:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.studio.models import MediaAsset, StudioJob

    with app.app_context():
        return db.session.scalar(select(func.count(StudioJob.id))) + db.session.scalar(
            select(func.count(MediaAsset.id))
        )


def test_every_studio_upload_path_refuses_the_corpus(studio_app, corpus):
    pix = studio_client(studio_app)
    good = encode(photo("madonna"))
    failures = []
    for case, (name, data) in corpus.items():
        paths = {
            "media": {"media": (io.BytesIO(data), name)},
            "job media": {"media": (io.BytesIO(data), name), "effect": "anonymize"},
            "job source": {
                "media": (io.BytesIO(good), "m.jpg"),
                "source": (io.BytesIO(data), name),
                "effect": "face_swap",
                "params": json.dumps({"consent": True}),
            },
        }
        for path, form in paths.items():
            url = f"{API}/media" if path == "media" else f"{API}/jobs"
            response = pix.post(url, data=form, content_type="multipart/form-data")
            body = response.get_json(silent=True) or {}
            ok = 400 <= response.status_code < 500 and body.get("error") and body.get("message")
            if not ok:
                failures.append(f"{path}/{case}: {response.status_code} {response.data[:160]!r}")
    assert failures == []
    # The one good photo sent as "media" of a refused face-swap job may be kept as an upload
    # (uploads are reusable); no job and no other file was stored.
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.studio.models import StudioJob

    with studio_app.app_context():
        assert db.session.scalar(select(func.count(StudioJob.id))) == 0
    assert len(_stored(studio_app)) <= 1


@pytest.mark.parametrize(
    "form",
    [
        {"params": "[" * 100_000 + "]" * 100_000},
        {"params": '{"a":' * 50_000 + "1" + "}" * 50_000},
        {"params": "not json"},
        {"params": "[1, 2]"},
        {"media_id": "²"},
        {"media_id": "١٢"},
        {"media_id": "99999999999999999999"},
        {"media_id": "-1"},
        {"media_id": "1e3"},
    ],
    ids=lambda form: next(iter(form)) + ":" + next(iter(form.values()))[:12],
)
def test_malformed_job_requests_are_a_400_with_a_message(studio_app, form):
    pix = studio_client(studio_app)
    data = {"effect": "anonymize", **form}
    if "media_id" not in form:
        data["media"] = (io.BytesIO(encode(photo("madonna"))), "m.jpg")
    before = _job_rows(studio_app)
    response = pix.post(f"{API}/jobs", data=data, content_type="multipart/form-data")
    assert 400 <= response.status_code < 500, response.data[:300]
    body = response.get_json()
    assert body["error"] and body["message"]
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.studio.models import StudioJob

    with studio_app.app_context():
        assert db.session.scalar(select(func.count(StudioJob.id))) == 0
    assert _job_rows(studio_app) - before <= 1  # at most the reusable upload itself
