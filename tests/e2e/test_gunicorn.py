"""The app under real gunicorn (2 workers): readiness, the recognize API, live enrollment."""

from __future__ import annotations

import shutil

import pytest
import requests

from tests.servers import GunicornServer
from tests.support import DATASET

pytestmark = pytest.mark.slow

ENROLLED = ("ben_afflek", "madonna")
STRANGER = "elton_john"


@pytest.fixture(scope="module")
def server(request):
    """One 2-worker gunicorn for this module; its log is printed if a test here fails."""
    if not (DATASET / "val").is_dir():
        pytest.fail(f"{DATASET} is missing: run `make models` (make test does it)")
    failed_before = request.session.testsfailed
    with GunicornServer(workers=2, ready_timeout=300) as server:  # busy 2-core machines
        yield server
        server.failed = request.session.testsfailed > failed_before


@pytest.fixture(scope="module")
def kiosk_token(server) -> str:
    """A kiosk registered through the CLI; the token is the last line it prints."""
    return server.cli("kiosks", "create", "lobby").strip().splitlines()[-1]


def val_photo(person: str):
    """The first validation photo of a person (never used for enrollment)."""
    return sorted((DATASET / "val" / person).glob("*.jpg"))[0]


def recognize(server, token: str, photo) -> requests.Response:
    """POST a photo to the recognize API on a new connection."""
    with open(photo, "rb") as fh:
        return requests.post(
            f"{server.url}/api/v1/recognize",
            files={"image": (photo.name, fh, "image/jpeg")},
            headers={"X-Kiosk-Token": token, "Connection": "close"},
            timeout=60,
        )


def test_healthz_says_loading_before_the_models_are_ready(server):
    """The first /healthz answers, polled from launch, are 503 "loading"."""
    first_seconds, status, body = server.health_polls[0]
    if status == 200:
        pytest.skip(f"both workers were ready at the first answer ({first_seconds:.1f} s)")
    assert status == 503, server.health_polls[:3]
    assert body["status"] == "loading", body
    loading = [p for p in server.health_polls if p[1] == 503]
    assert all(p[2]["status"] == "loading" for p in loading), loading[-3:]


def test_healthz_ready_reports_models_and_device(server, capsys):
    """Once ready, /healthz is 200 with the model versions and device; cold start is shown."""
    with capsys.disabled():
        print(
            f"\n[gunicorn x{server.workers}] first 200 after {server.first_ok_seconds:.1f} s, "
            f"every worker ready after {server.ready_seconds:.1f} s"
        )
    for _ in range(4):  # new connections: both workers are ready now
        response = requests.get(f"{server.url}/healthz", timeout=10)
        assert response.status_code == 200, server.log_tail()
        body = response.json()
        assert body["status"] == "ok"
        assert body["models"]["faces"].startswith("facenet"), body
        assert body["device"]["tensorflow"] in {"cpu", "cuda"}, body
        assert body["load_seconds"] > 0


def test_the_console_says_ready_once_every_worker_has_its_models(server):
    """The master logs one "ready: URL — admin …" line after both workers loaded their models."""
    import time

    deadline = time.monotonic() + 10  # the master looks every 0.5 s
    while "ready: " not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = server.log_text()
    ready = [line for line in log.splitlines() if "ready: http" in line]
    assert len(ready) == 1, server.log_tail()
    assert f"ready: {server.url} — admin {server.url}/admin/" in ready[0]
    # It comes after both workers said their models were ready.
    assert log.index(ready[0]) > log.rindex("models ready in")


def test_recognize_before_anyone_is_enrolled_says_unknown(server, kiosk_token):
    """With nobody enrolled, a face is found and reported as unknown."""
    response = recognize(server, kiosk_token, val_photo(ENROLLED[0]))
    assert response.status_code == 200, response.text + server.log_tail()
    faces = response.json()["faces"]
    assert faces, response.json()
    assert faces[0]["known"] is False
    assert faces[0]["employee_id"] is None
    assert response.json()["model_version"].endswith("classifier-v0")


def test_revoked_kiosk_token_gets_401_json(server):
    """A revoked token (and a made-up one) is refused with a JSON 401."""
    token = server.cli("kiosks", "create", "gate").strip().splitlines()[-1]
    server.cli("kiosks", "revoke", "gate")
    for bad in (token, "kiosk_made-up"):
        response = recognize(server, bad, val_photo(ENROLLED[0]))
        assert response.status_code == 401, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json()["error"] == "invalid_token"
        assert response.json()["message"]


def test_garbage_upload_gets_400_json(server, kiosk_token):
    """Bytes that are not an image, or no image at all, are a 400 with error and message."""
    response = requests.post(
        f"{server.url}/api/v1/recognize",
        files={"image": ("photo.jpg", b"this is not a JPEG at all", "image/jpeg")},
        headers={"X-Kiosk-Token": kiosk_token},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] == "not_an_image" and body["message"]

    response = requests.post(
        f"{server.url}/api/v1/recognize",
        data={"detector": "photo"},
        headers={"X-Kiosk-Token": kiosk_token},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "missing_image"


def test_cli_enrollment_reaches_the_running_workers(server, kiosk_token, tmp_path):
    """People enrolled by a separate CLI process are named by both workers without a restart."""
    for person in ENROLLED:
        (tmp_path / person).mkdir()
        for photo in sorted((DATASET / "train" / person).glob("*.jpg"))[:5]:
            shutil.copy(photo, tmp_path / person / photo.name)
    workers_before = server.worker_pids()
    assert len(workers_before) == 2, workers_before
    requests_before = len(server.access_log())

    output = server.cli("employees", "import", str(tmp_path))
    assert "enrolled 10 photo(s), skipped 0" in output, output

    served_by: set[int] = set()
    for round_no in range(12):
        for person in (*ENROLLED, STRANGER):
            response = recognize(server, kiosk_token, val_photo(person))
            assert response.status_code == 200, response.text + server.log_tail()
            face = response.json()["faces"][0]
            if person == STRANGER:
                assert face["known"] is False and face["employee_id"] is None, face
            else:
                # Named after the folder, in words: ben_afflek -> "Ben Afflek".
                name = person.replace("_", " ").title()
                assert face["known"] is True and face["name"] == name, (person, face)
                assert isinstance(face["employee_id"], int)
        served_by = {
            pid
            for pid, _, path, _ in server.access_log()[requests_before:]
            if path == "/api/v1/recognize"
        }
        if round_no >= 1 and len(served_by) == 2:
            break
    assert served_by == workers_before, f"recognize calls reached only {served_by}"
    assert server.worker_pids() == workers_before, "a worker was restarted"
