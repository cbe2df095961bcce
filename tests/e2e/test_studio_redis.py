"""With REDIS_URL set the studio queue lives in a real Redis server: the web side enqueues there
and a worker (as on another machine) takes the job from there; nothing goes to SQLite."""

from __future__ import annotations

import io
import shutil
import subprocess
import time

import pytest

from tests.servers import free_port
from tests.studio_helpers import (
    STUDIO_EMAIL,
    Worker,
    bearer,
    encode,
    finished,
    make_token,
    two_people,
    wait_for,
)
from tests.support import create_user

API = "/api/v1/studio"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A throwaway Redis server (Debian's redis-server) on a free port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: run `make system-test-deps` (make test does it)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline and process.poll() is None, "redis did not start"
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


def test_jobs_go_through_redis(tmp_path, migrated_db, redis_url):
    import redis

    from tests.conftest import _app_from
    from webapp.studio.queue import QUEUE_FILE

    instance = tmp_path / "instance"
    app = _app_from(instance, migrated_db, REDIS_URL=redis_url)
    create_user(app, STUDIO_EMAIL, "correct-horse-battery", role="studio")
    headers = bearer(make_token(app, STUDIO_EMAIL))
    client = app.test_client()
    response = client.post(
        f"{API}/jobs",
        data={
            "media": (io.BytesIO(encode(two_people())), "scene.jpg"),
            "effect": "anonymize",
            "params": '{"mode": "pixelate"}',
        },
        content_type="multipart/form-data",
        headers=headers,
    )
    assert response.status_code == 202
    url = response.get_json()["status_url"]
    queued = redis.Redis.from_url(redis_url).keys("*studio*")
    assert queued, "the job message is in Redis"
    assert not (instance / QUEUE_FILE).exists()
    worker = Worker(instance, "redis-worker", REDIS_URL=redis_url)
    try:
        worker.wait_ready()
        status = wait_for(client, url, headers, finished, timeout=120)
    finally:
        worker.stop()
    assert status["status"] == "done", status
    assert status["details"]["replaced_ids"] == [0, 1]
    assert "PriorityRedisStorage" in worker.output()  # where the worker said it takes jobs from
    assert not (instance / QUEUE_FILE).exists()
