"""What a studio worker does with a job id: claim, run the effect, report progress, finish.

The runner is generic: it gathers the job's inputs by role, hands the effect a `Context`
(parameters, inputs, models loaded on first use, scratch folder, progress) and stores whatever
`Output` the effect returns. Nothing here names an effect.

Every write a worker makes is conditional on the job still being `running` under this worker,
so a cancelled or reaped job is never overwritten. A heartbeat thread keeps `heartbeat_at` fresh
while an effect runs; the reaper re-queues (or, after STUDIO_MAX_ATTEMPTS, fails) jobs whose
worker died, so no job stays "running" forever. Inputs are never touched.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select, update

from ml.boxes import iou
from ml.errors import FaceError
from ml.images import ImageError
from webapp import media
from webapp.db import utcnow
from webapp.errors import AppError
from webapp.extensions import db
from webapp.registry import current_models
from webapp.studio import provenance, queue
from webapp.studio.effects import effect_named, face_effects
from webapp.studio.effects.base import PHOTO, VIDEO, Context, InputMedia, Models
from webapp.studio.models import JobStatus, MediaAsset, MediaKind, StudioJob
from webapp.studio.storage import (
    extras_folder,
    job_scratch,
    load_image,
    store_extras,
    store_result,
)

log = logging.getLogger(__name__)

LOST_MESSAGE = "The worker stopped while running this job"


class JobStopped(Exception):
    """The job was cancelled or taken from this worker; stop working on it."""


def worker_id() -> str:
    """This worker process's name in job rows: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _running_here(job_id: int, worker: str):
    """The condition every worker write carries."""
    return (
        StudioJob.id == job_id,
        StudioJob.status == JobStatus.RUNNING,
        StudioJob.worker == worker,
    )


def claim(job_id: int, worker: str) -> bool:
    """Take a queued job for this worker; False if it is not queued (cancelled, done, taken)."""
    now = utcnow()
    claimed = db.session.execute(
        update(StudioJob)
        .where(StudioJob.id == job_id, StudioJob.status == JobStatus.QUEUED)
        .values(
            status=JobStatus.RUNNING,
            worker=worker,
            attempts=StudioJob.attempts + 1,
            progress=0,
            message="Starting.",
            started_at=now,
            heartbeat_at=now,
        )
    ).rowcount
    db.session.commit()
    return bool(claimed)


class Progress:
    """Writes a running job's progress (at most a few times a second) and notices cancelling."""

    def __init__(self, job_id: int, worker: str, start: int = 0, end: int = 100) -> None:
        self.job_id, self.worker = job_id, worker
        self.start, self.end = start, end
        self._last_write = 0.0
        self._last_percent = -1

    def __call__(self, fraction: float, message: str | None = None, force: bool = False) -> None:
        """Report `fraction` (0-1) of this stage done; raise JobStopped if the job was taken.

        Writes when forced (a new stage), else when the percentage moved and a quarter second
        passed since the last write.
        """
        percent = int(self.start + (self.end - self.start) * min(max(fraction, 0.0), 1.0))
        now = time.monotonic()
        if not force and (percent == self._last_percent or now - self._last_write < 0.25):
            return
        values = {"progress": percent, "heartbeat_at": utcnow()}
        if message is not None:
            values["message"] = message
        changed = db.session.execute(
            update(StudioJob).where(*_running_here(self.job_id, self.worker)).values(**values)
        ).rowcount
        db.session.commit()
        self._last_write, self._last_percent = now, percent
        if not changed:
            raise JobStopped()


class Heartbeat:
    """A thread that keeps a running job's `heartbeat_at` fresh while the effect works."""

    def __init__(self, app, job_id: int, worker: str, interval: float) -> None:
        self.app, self.job_id, self.worker, self.interval = app, job_id, worker, interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.thread.join(timeout=self.interval + 5)

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                with self.app.app_context():
                    changed = db.session.execute(
                        update(StudioJob)
                        .where(*_running_here(self.job_id, self.worker))
                        .values(heartbeat_at=utcnow())
                    ).rowcount
                    db.session.commit()
            except Exception:  # a busy database: try again at the next beat
                log.exception("heartbeat of studio job %s failed", self.job_id)
                continue
            if not changed:  # cancelled or reaped: the effect stops at its next report
                return


def _finish(job_id: int, worker: str, **values) -> bool:
    """Write a job's final state if it is still ours."""
    values.setdefault("finished_at", utcnow())
    changed = db.session.execute(
        update(StudioJob).where(*_running_here(job_id, worker)).values(**values)
    ).rowcount
    db.session.commit()
    return bool(changed)


def _plain(value):
    """The effect's report as plain JSON."""
    return json.loads(json.dumps(value, default=lambda item: getattr(item, "tolist", str)()))


def run_job(job_id: int) -> None:
    """Run one studio job to its end: done with a result, failed with a reason, or stopped."""
    worker = worker_id()
    if not claim(job_id, worker):
        log.info("studio job %s is not queued any more; skipped", job_id)
        return
    job = db.session.get(StudioJob, job_id)
    config = current_app.config
    app = current_app._get_current_object()
    log.info(
        "studio job %s: %s on media %s (attempt %s)", job_id, job.effect, job.input_id, job.attempts
    )
    scratch = None
    try:
        effect = effect_named(job.effect)
        scratch = job_scratch(job_id)
        with Heartbeat(app, job_id, worker, config["STUDIO_HEARTBEAT_SECONDS"]):
            output = _execute(job, effect, worker, scratch)
            kind = MediaKind.IMAGE if output.kind == PHOTO else MediaKind.VIDEO
            result = store_result(job.owner_id, output.path, kind, output.content_type, output.info)
            result_path = result.path
            details = dict(output.details)
            if output.extras:
                details["extra_outputs"] = store_extras(result_path, output.extras)
            changed = db.session.execute(
                update(StudioJob)
                .where(*_running_here(job_id, worker))
                .values(
                    status=JobStatus.DONE,
                    progress=100,
                    message="Done.",
                    result_id=result.id,
                    details=_plain(details),
                    finished_at=utcnow(),
                )
            ).rowcount
            if not changed:  # cancelled at the last moment: keep no result
                db.session.rollback()
                media.remove(result_path)
                shutil.rmtree(extras_folder(result_path), ignore_errors=True)
                raise JobStopped()
            db.session.commit()
    except JobStopped:
        db.session.rollback()
        log.info("studio job %s was stopped (cancelled or taken over)", job_id)
    except (AppError, ImageError) as exc:  # bad input, or StorageError: full/read-only media
        db.session.rollback()
        _finish(
            job_id,
            worker,
            status=JobStatus.FAILED,
            error=exc.message,
            error_code=exc.code,
            message="Failed.",
        )
    except FaceError as exc:
        db.session.rollback()
        _finish(
            job_id,
            worker,
            status=JobStatus.FAILED,
            error=str(exc),
            error_code=exc.code,
            message="Failed.",
        )
    except Exception as exc:
        db.session.rollback()
        code = getattr(exc, "code", None)
        message = getattr(exc, "message", None)
        if isinstance(code, str) and isinstance(message, str):  # ml's own errors (MediaError)
            _finish(
                job_id,
                worker,
                status=JobStatus.FAILED,
                error=message[:500],
                error_code=code[:40],
                message="Failed.",
            )
        else:
            log.exception("studio job %s failed", job_id)
            _finish(
                job_id,
                worker,
                status=JobStatus.FAILED,
                error=f"The effect stopped with an internal error ({type(exc).__name__}).",
                error_code="internal_error",
                message="Failed.",
            )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def job_inputs(job: StudioJob) -> dict[str, InputMedia]:
    """The job's inputs by role, as the effect sees them."""
    max_pixels = current_app.config["MAX_IMAGE_PIXELS"]

    def from_asset(role: str, asset: MediaAsset) -> InputMedia:
        return InputMedia(
            role=role,
            kind=PHOTO if asset.kind == MediaKind.IMAGE else VIDEO,
            path=media.absolute(asset.path),
            content_type=asset.content_type,
            width=asset.width,
            height=asset.height,
            fps=asset.fps,
            frames=asset.frames,
            max_pixels=max_pixels,
        )

    found = {"media": from_asset("media", job.input)}
    if job.source_id:
        found["source"] = from_asset("source", job.source)
    for role, value in (job.inputs or {}).items():
        if isinstance(value, str):
            found[role] = InputMedia(role=role, kind="text", text=value)
        else:
            asset = db.session.get(MediaAsset, int(value))
            if asset is None:
                raise AppError(f"The {role} file of this job was removed.", "input_missing")
            found[role] = from_asset(role, asset)
    return found


def _execute(job: StudioJob, effect, worker: str, scratch: Path):
    """Run the job's effect through the contract; returns the effect's Output."""
    progress = Progress(job.id, worker)
    progress(0.0, "Loading the media.", force=True)
    ctx = Context(
        effect=effect,
        params=job.params,
        inputs=job_inputs(job),
        models=Models(current_models()),
        scratch=scratch,
        progress=progress,
        stage=lambda start, end: Progress(job.id, worker, start=start, end=end),
        tags=provenance.tags(effect.name, effect.description_line(job.params)),
    )
    return effect.run(ctx)


def detect_faces(media_id: int) -> None:
    """Find the faces of a media file for every effect, for the page's selectable boxes."""
    asset = db.session.get(MediaAsset, media_id)
    if asset is None:
        return
    try:
        rgb = _first_frame(asset)
        models = Models(current_models())
        found = {name: effect.find_faces(models, rgb) for name, effect in face_effects().items()}
        _mark_people(rgb, found)
        asset.faces, asset.faces_error = found, None
    except (ImageError, FaceError) as exc:
        asset.faces_error = str(exc)[:255]
    except Exception as exc:
        log.exception("face detection on media %s failed", media_id)
        asset.faces_error = f"Face detection failed ({type(exc).__name__})."
    db.session.commit()


def _first_frame(asset: MediaAsset):
    """The image, or a video's first frame, as RGB."""
    if asset.kind == MediaKind.IMAGE:
        return load_image(asset)
    from ml.video import read_frame

    return read_frame(media.absolute(asset.path), 0)


def _mark_people(rgb, found: dict[str, list[dict]]) -> None:
    """Name enrolled employees among the faces and pre-mark them and the main subject to keep."""
    from webapp.recognition.services import recognize

    try:
        known = [face for face in recognize(rgb, "photo")[0] if face.employee_id is not None]
    except Exception:  # no classifier yet or no recognizer: nobody is pre-marked as employee
        log.exception("recognition for the studio's face boxes failed")
        known = []
    for faces in found.values():
        main = max(faces, key=lambda f: f["box"][2] * f["box"][3], default=None)
        for face in faces:
            match = max(known, key=lambda k: iou(k.box, face["box"]), default=None)
            if match is not None and iou(match.box, face["box"]) >= 0.3:
                face["employee_id"], face["name"] = match.employee_id, match.name
            else:
                face["employee_id"], face["name"] = None, None
            face["main_subject"] = face is main
            face["suggest_keep"] = face is main or face["employee_id"] is not None


def requeue_interrupted(job_id: int) -> None:
    """Put back a job this worker was running when it was told to stop (Ctrl-C, SIGTERM)."""
    worker = worker_id()
    changed = db.session.execute(
        update(StudioJob)
        .where(*_running_here(job_id, worker))
        .values(
            status=JobStatus.QUEUED,
            worker=None,
            progress=0,
            attempts=StudioJob.attempts - 1,
            message="The worker was stopped; the job is queued again.",
        )
    ).rowcount
    db.session.commit()
    if changed:
        queue.enqueue_job(job_id)


def reap_lost_jobs(at_start: bool = False) -> list[int]:
    """Re-queue or fail `running` jobs whose worker is gone; returns their ids.

    A worker is gone when its heartbeat is older than STUDIO_STALE_SECONDS, or, on this host,
    when its process no longer exists (at a worker's start, also when it has our own name: a
    restarted container reuses process ids).
    """
    config = current_app.config
    now = utcnow()
    stale_before = now - timedelta(seconds=config["STUDIO_STALE_SECONDS"])
    me = worker_id()
    host = socket.gethostname()
    reaped = []
    for job in db.session.scalars(select(StudioJob).where(StudioJob.status == JobStatus.RUNNING)):
        if not _is_lost(job, stale_before, host, me, at_start):
            continue
        gone_because = f"{LOST_MESSAGE} ({job.worker})."
        if job.attempts < config["STUDIO_MAX_ATTEMPTS"]:
            values = {
                "status": JobStatus.QUEUED,
                "progress": 0,
                "message": f"{gone_because} It is queued again.",
            }
        else:
            values = {
                "status": JobStatus.FAILED,
                "message": "Failed.",
                "error": (
                    f"{gone_because} It was tried {job.attempts} times; it may be too large "
                    "for the worker's memory."
                )[:500],
                "error_code": "worker_lost",
                "finished_at": now,
            }
        changed = db.session.execute(
            update(StudioJob)
            .where(
                StudioJob.id == job.id,
                StudioJob.status == JobStatus.RUNNING,
                StudioJob.worker == job.worker,
            )
            .values(worker=None, **values)
        ).rowcount
        db.session.commit()
        if changed:
            reaped.append(job.id)
            log.warning(
                "studio job %s lost its worker %s: %s", job.id, job.worker, values["status"]
            )
            if values["status"] == JobStatus.QUEUED:
                queue.enqueue_job(job.id)
    return reaped


def _is_lost(job: StudioJob, stale_before, host: str, me: str, at_start: bool) -> bool:
    """True when a running job's worker is known or presumed dead."""
    if job.heartbeat_at is None or job.heartbeat_at < stale_before:
        return True
    worker_host, _, pid = (job.worker or "").rpartition(":")
    if worker_host != host or not pid.isdigit():
        return False
    if job.worker == me:
        return at_start
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def generate_people(gender: str, band: str, at_least: int) -> None:
    """More generated people of a gender and age band for face swap's candidates."""
    from webapp.studio.people import generate_people as generate

    try:
        generate(gender, band, at_least)
    except Exception:  # a failed fill must not take the worker down; the page asks again
        log.exception("generating people of %s/%s failed", gender, band)


queue.HANDLERS.update(
    run_job=run_job,
    detect_faces=detect_faces,
    generate_people=generate_people,
    reap_lost_jobs=reap_lost_jobs,
)
