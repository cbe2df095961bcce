"""Scale-out: two studio worker processes (as on two machines) share one Redis queue; the jobs are
split between them and none runs twice."""

from __future__ import annotations

import io
import sqlite3

import pytest

from tests.e2e.test_studio_redis import redis_url as redis_url
from tests.studio_helpers import (
    STUDIO_EMAIL,
    Worker,
    bearer,
    encode,
    finished,
    make_token,
    scene_frames,
    two_people,
    wait_for,
)
from tests.support import create_user

API = "/api/v1/studio"
JOBS = 8

pytestmark = pytest.mark.slow


def test_two_workers_split_the_jobs_and_none_runs_twice(tmp_path, migrated_db, redis_url):
    from tests.conftest import _app_from

    instance = tmp_path / "instance"
    app = _app_from(instance, migrated_db, REDIS_URL=redis_url)
    create_user(app, STUDIO_EMAIL, "correct-horse-battery", role="studio")
    headers = bearer(make_token(app, STUDIO_EMAIL))
    client = app.test_client()
    scenes = [two_people(), *(frame for frame in scene_frames(JOBS - 1, 480, 320))]
    workers = [Worker(instance, f"worker-{n}", REDIS_URL=redis_url) for n in (1, 2)]
    try:
        for worker in workers:  # both idle on the queue before the first job arrives
            worker.wait_ready(timeout=480)  # two model loads at once on a busy machine
        urls = submit(client, headers, scenes)
        statuses = [wait_for(client, url, headers, finished, timeout=600) for url in urls]
    finally:
        for worker in workers:
            worker.stop()
    check(instance, statuses, workers)


def submit(client, headers, scenes) -> list[str]:
    """One anonymize job per scene; their status URLs."""
    urls = []
    for scene in scenes:  # different photos: no upload is a duplicate of another
        response = client.post(
            f"{API}/jobs",
            data={
                "media": (io.BytesIO(encode(scene)), "scene.jpg"),
                "effect": "anonymize",
                "params": '{"mode": "pixelate"}',
            },
            content_type="multipart/form-data",
            headers=headers,
        )
        assert response.status_code == 202, response.get_json()
        urls.append(response.get_json()["status_url"])
    return urls


def check(instance, statuses, workers) -> None:
    """Every job done once, by one of the two workers, each worker with some of them."""
    assert [s["status"] for s in statuses] == ["done"] * JOBS, statuses
    with sqlite3.connect(instance / "app.db") as db:
        rows = db.execute("SELECT id, worker, attempts, result_id FROM studio_jobs").fetchall()
        results = db.execute(
            "SELECT COUNT(*) FROM media_assets WHERE origin = 'result'"
        ).fetchone()[0]
    assert len(rows) == JOBS
    assert all(attempts == 1 for _, _, attempts, _ in rows), rows  # none started twice
    assert len({result for *_, result in rows}) == JOBS == results  # one result each
    pids = {worker.split(":")[-1] for _, worker, _, _ in rows}
    assert pids == {str(w.process.pid) for w in workers}, rows  # both took jobs
