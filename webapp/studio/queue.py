"""The studio job queue: Huey on SQLite in the instance folder, or on Redis when REDIS_URL is set.

The web process only enqueues; `flask studio worker` consumes. Both build the same Huey object
from the app's config (lazily, on first use), so task names match on every machine. Tasks carry
ids only; the job rows in the database are the truth, the queue only says "look at job 7".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask, current_app
from huey import Huey, PriorityRedisHuey, SqliteHuey, crontab

QUEUE_NAME = "studio"
QUEUE_FILE = "studio-queue.db"
# Face detection for the page's boxes jumps ahead of long effect jobs.
FACES_PRIORITY = 10
JOB_PRIORITY = 0
# name -> function, filled by webapp.studio.tasks (imported by the worker).
HANDLERS: dict[str, Callable] = {}


def _handler(name: str) -> Callable:
    """The function for task `name`; only a worker (which imports webapp.studio.tasks) has it."""
    if name not in HANDLERS:
        raise RuntimeError(f"studio task {name!r} has no handler: import webapp.studio.tasks")
    return HANDLERS[name]


def build_queue(app: Flask) -> Huey:
    """A Huey for this app's config with the studio tasks registered on it."""
    redis_url = app.config.get("REDIS_URL")
    if redis_url:
        huey: Huey = PriorityRedisHuey(QUEUE_NAME, url=redis_url, results=False)
    else:
        path = Path(app.instance_path) / QUEUE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(QUEUE_NAME, filename=str(path), results=False)

    # Each task runs inside an app context of the worker's app; the work lives in tasks.py.
    @huey.task(name="studio_run_job", priority=JOB_PRIORITY)
    def run_job(job_id: int) -> None:
        with app.app_context():
            _handler("run_job")(job_id)

    @huey.task(name="studio_detect_faces", priority=FACES_PRIORITY)
    def detect_faces(media_id: int) -> None:
        with app.app_context():
            _handler("detect_faces")(media_id)

    @huey.task(name="studio_generate_people", priority=FACES_PRIORITY)
    def generate_people(gender: str, band: str, at_least: int) -> None:
        with app.app_context():
            _handler("generate_people")(gender, band, at_least)

    @huey.periodic_task(crontab(minute="*"), name="studio_reap_lost_jobs")
    def reap() -> None:
        with app.app_context():
            _handler("reap_lost_jobs")()

    huey.studio_tasks = {
        "run_job": run_job,
        "detect_faces": detect_faces,
        "generate_people": generate_people,
        "reap": reap,
    }
    return huey


def get_queue() -> Huey:
    """This app's queue, built on first use."""
    app = current_app._get_current_object()
    queue = app.extensions.get("studio_queue")
    if queue is None:
        queue = app.extensions["studio_queue"] = build_queue(app)
    return queue


def enqueue_job(job_id: int) -> None:
    """Ask a worker to run a job."""
    get_queue().studio_tasks["run_job"](job_id)


def enqueue_faces(media_id: int) -> None:
    """Ask a worker to find the faces in a media file."""
    get_queue().studio_tasks["detect_faces"](media_id)


def enqueue_people(gender: str, band: str, at_least: int) -> None:
    """Ask a worker to bring the face bank's (gender, band) to `at_least` generated people."""
    get_queue().studio_tasks["generate_people"](gender, band, at_least)


def pending_count() -> int:
    """How many messages wait in the queue (for the worker's start-up log and tests)."""
    return get_queue().pending_count()
