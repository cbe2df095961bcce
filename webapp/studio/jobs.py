"""Studio jobs: check a request against its effect's contract, record and queue the job; cancel,
retry, list, and the API's JSON shapes. Each user reaches only their own rows."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from flask import current_app, url_for
from sqlalchemy import select, update

from webapp import media
from webapp.auth.models import User
from webapp.db import utcnow
from webapp.errors import AppError, NotFound
from webapp.extensions import db
from webapp.studio import queue
from webapp.studio.effects import ParamError, effect_named
from webapp.studio.effects.base import PHOTO, VIDEO, localized
from webapp.studio.intake import IncomingFile, store_upload
from webapp.studio.models import JobStatus, MediaAsset, MediaKind, StudioJob

log = logging.getLogger(__name__)
KIND_OF = {MediaKind.IMAGE: PHOTO, MediaKind.VIDEO: VIDEO}
WANT = {PHOTO: MediaKind.IMAGE, VIDEO: MediaKind.VIDEO}
MAX_TEXT = 10_000


def get_media(owner: User, media_id: int) -> MediaAsset:
    """One of the owner's media, or 404 (someone else's media does not exist for them)."""
    asset = db.session.get(MediaAsset, media_id)
    if asset is None or asset.owner_id != owner.id:
        raise NotFound("There is no such media.")
    return asset


def get_job(owner: User, job_id: int) -> StudioJob:
    """One of the owner's jobs, or 404."""
    job = db.session.get(StudioJob, job_id)
    if job is None or job.owner_id != owner.id:
        raise NotFound("There is no such job.")
    return job


def list_jobs(owner: User, limit: int = 50) -> list[StudioJob]:
    """The owner's newest jobs."""
    return list(
        db.session.scalars(
            select(StudioJob)
            .where(StudioJob.owner_id == owner.id)
            .order_by(StudioJob.id.desc())
            .limit(limit)
        )
    )


def parse_params(text: str | None) -> dict:
    """The `params` form field: a JSON object (empty when absent)."""
    if text is None or not text.strip():
        return {}
    try:
        params = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested thousands deep
        raise AppError("params must be a JSON object.", "bad_params") from exc
    if not isinstance(params, dict):
        raise AppError("params must be a JSON object.", "bad_params")
    return params


def create_job(
    owner: User,
    effect_name: str | None,
    params: dict,
    input_asset: MediaAsset,
    source_asset: MediaAsset | None = None,
    extra: dict | None = None,
) -> StudioJob:
    """Check the effect, its parameters and its inputs by role; record the job and queue it.

    `extra` holds the inputs of the other roles: a MediaAsset per file role, a string for `text`.
    """
    effect = effect_named(effect_name)
    try:
        clean = effect.check_params(params)
    except ParamError as exc:
        raise AppError(str(exc), exc.code) from exc
    given = {"media": input_asset, "source": source_asset, **(extra or {})}
    check_inputs(effect, clean, {role for role, value in given.items() if value is not None})
    stored: dict = {}
    for role, value in given.items():
        spec = effect.input(role)
        if value is None:
            continue
        if spec is None:
            raise AppError(f"{effect.name} takes no {role} file.", f"unexpected_{role}")
        if isinstance(value, str):
            if "text" not in spec.accepts:
                raise AppError(f"{role} must be a file.", "bad_request")
            if len(value) > MAX_TEXT:
                raise AppError(f"{role} is longer than {MAX_TEXT} characters.", "text_too_long")
            stored[role] = value
            continue
        kind = KIND_OF[value.kind]
        if kind not in spec.accepts:
            wanted = " or ".join(spec.accepts)
            code = "image_required" if spec.accepts == (PHOTO,) else f"{spec.accepts[0]}_required"
            if role == "source" and spec.accepts == (PHOTO,):
                raise AppError("The source must be a photo.", code)
            raise AppError(f"{role} must be a {wanted}.", code)
        if role not in ("media", "source"):
            stored[role] = value.id
    job = StudioJob(
        owner_id=owner.id,
        effect=effect.name,
        params=clean,
        input_id=input_asset.id,
        source_id=source_asset.id if source_asset else None,
        inputs=stored or None,
        status=JobStatus.QUEUED,
        progress=0,
        message="Waiting for a worker.",
    )
    db.session.add(job)
    db.session.commit()
    _enqueue_or_fail(job)
    return job


def check_inputs(effect, params: dict, roles: set[str]) -> None:
    """The checks between a job's inputs and its parameters: each required input is given, or
    the parameter that may stand in for it (`Input.instead`), not both; checkboxes that must be
    ticked with an input (`x-required-with`, e.g. consent) are; then the effect's own checks."""
    for spec in effect.inputs:
        stand_in = spec.instead and params.get(spec.instead) not in (None, "")
        if spec.role in roles and stand_in:
            raise AppError(
                f"Send either the {spec.role} file or params.{spec.instead}, not both.",
                f"{spec.role}_and_{spec.instead}",
            )
        if spec.required and spec.role not in roles and not stand_in:
            raise AppError(_missing(effect, spec.role), f"missing_{spec.role}")
    for name, prop in effect.params_schema.get("properties", {}).items():
        role = prop.get("x-required-with")
        if role and role in roles and params.get(name) is not True:
            error = prop.get("x-error") or f"params.{name} must be true with a {role} file."
            raise AppError(localized(error, "en"), prop.get("x-code", "bad_params"))
    try:
        effect.check_request(params, roles, current_app.config)
    except ParamError as exc:
        raise AppError(str(exc), exc.code, getattr(exc, "status", 400)) from exc


def _missing(effect, role: str) -> str:
    """The API's message for a required input that was not sent."""
    spec = effect.input(role)
    if role == "source" and spec is not None and spec.instead:
        return (
            f"{effect.name} needs a source face: a photo as multipart file field 'source', or "
            f"a generated person in params.{spec.instead} (see GET /people/candidates)."
        )
    if role == "source":
        return f"{effect.name} needs the source face as multipart file field 'source'."
    if role == "text":
        return f"{effect.name} needs the form field 'text'."
    return f"{effect.name} needs the {role} file as multipart file field {role!r}."


def discard_upload(asset: MediaAsset) -> None:
    """Remove a just-stored upload that no job uses (its request was refused)."""
    used = db.session.scalar(
        select(StudioJob.id)
        .where((StudioJob.input_id == asset.id) | (StudioJob.source_id == asset.id))
        .limit(1)
    )
    if used is not None:
        return
    path = asset.path
    db.session.delete(asset)
    db.session.commit()
    media.remove(path)


def _media_from(
    owner: User,
    upload: IncomingFile | None,
    media_id: str | None,
    field: str,
    want: MediaKind | None,
    new: list[MediaAsset],
) -> MediaAsset | None:
    """The media a job request names: a new upload in `field`, or `<field>_id` of a stored one."""
    if upload is not None and media_id:
        raise AppError(f"Send either the file {field!r} or {field}_id, not both.", "bad_request")
    if upload is not None:
        asset, created = store_upload(owner, upload, want)
        if created:
            new.append(asset)
        return asset
    if media_id:
        text = str(media_id)
        if not (text.isascii() and text.isdigit()) or int(text) > 2**63 - 1:
            raise AppError(f"{field}_id must be a media id.", "bad_request")
        asset = get_media(owner, int(media_id))
        if want is not None and asset.kind != want:
            raise AppError(f"{field} must be an {want.value}.", f"{want.value}_required")
        return asset
    return None


def submit_job(
    owner: User,
    effect_name: str | None,
    params_text: str | None,
    media_file: IncomingFile | None = None,
    media_id: str | None = None,
    source_file: IncomingFile | None = None,
    source_id: str | None = None,
    others: dict | None = None,
) -> StudioJob:
    """A job from an API request: parameters are checked first, then the files; if anything is
    refused, the files this request stored are removed again.

    `others` maps the other roles to (file, id) pairs, or to a string for `text`.
    """
    effect = effect_named(effect_name)
    params = parse_params(params_text)
    try:
        clean = effect.check_params(params)
    except ParamError as exc:
        raise AppError(str(exc), exc.code) from exc
    others = others or {}
    sent = {"source": source_file is not None or bool(source_id)}
    sent.update(
        {role: value is not None and value != (None, None) for role, value in others.items()}
    )
    sent["media"] = True  # checked below, after the other inputs, with its own message
    check_inputs(effect, clean, {role for role, was_sent in sent.items() if was_sent})
    new: list[MediaAsset] = []
    try:
        input_asset = _media_from(owner, media_file, media_id, "media", None, new)
        if input_asset is None:
            raise AppError(
                "Send the photo or video as multipart file field 'media'.", "missing_media"
            )
        source_spec = effect.input("source")
        want = (
            WANT.get(source_spec.accepts[0])
            if source_spec and len(source_spec.accepts) == 1
            else None
        )
        if source_spec is None:
            want = MediaKind.IMAGE
        source = _media_from(owner, source_file, source_id, "source", want, new)
        extra: dict = {}
        for role, value in others.items():
            if isinstance(value, str) or value is None:
                extra[role] = value or None
            else:
                extra[role] = _media_from(owner, value[0], value[1], role, None, new)
        return create_job(owner, effect.name, params, input_asset, source, extra)
    except BaseException:
        db.session.rollback()
        for asset in new:
            discard_upload(asset)
        raise


def _enqueue_or_fail(job: StudioJob) -> None:
    """Put the job on the queue; if the queue cannot be reached, fail the job and say so."""
    try:
        queue.enqueue_job(job.id)
    except Exception as exc:
        log.exception("could not queue studio job %s", job.id)
        job.status = JobStatus.FAILED
        job.error = "The job queue cannot be reached; try again later."
        job.error_code = "queue_unavailable"
        job.finished_at = utcnow()
        db.session.commit()
        raise AppError(job.error, job.error_code, 503) from exc


def cancel_job(owner: User, job_id: int) -> StudioJob:
    """Cancel a queued or running job (a running one stops at its next progress report)."""
    job = get_job(owner, job_id)
    changed = db.session.execute(
        update(StudioJob)
        .where(
            StudioJob.id == job.id,
            StudioJob.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
        )
        .values(status=JobStatus.CANCELLED, message="Cancelled.", finished_at=utcnow())
    ).rowcount
    db.session.commit()
    db.session.refresh(job)
    if not changed:
        raise AppError(f"The job is already {job.status}.", "job_finished", 409)
    return job


def retry_job(owner: User, job_id: int) -> StudioJob:
    """Queue a failed or cancelled job again, with the same inputs and parameters."""
    job = get_job(owner, job_id)
    changed = db.session.execute(
        update(StudioJob)
        .where(
            StudioJob.id == job.id,
            StudioJob.status.in_([JobStatus.FAILED, JobStatus.CANCELLED]),
        )
        .values(
            status=JobStatus.QUEUED,
            progress=0,
            message="Waiting for a worker.",
            error=None,
            error_code=None,
            attempts=0,
            worker=None,
            heartbeat_at=None,
            started_at=None,
            finished_at=None,
        )
    ).rowcount
    db.session.commit()
    db.session.refresh(job)
    if not changed:
        raise AppError(
            f"Only failed or cancelled jobs can be retried; this one is {job.status}.",
            "not_retryable",
            409,
        )
    _enqueue_or_fail(job)
    return job


def media_url(asset: MediaAsset, download: bool = False) -> str:
    """Where the owner fetches a media file."""
    if download:
        return url_for("studio_api.media_file", media_id=asset.id, download=1)
    return url_for("studio_api.media_file", media_id=asset.id)


def media_dict(asset: MediaAsset) -> dict:
    """The API's JSON shape of a media file."""
    return {
        "id": asset.id,
        "kind": str(asset.kind),
        "media_type": asset.content_type,
        "width": asset.width,
        "height": asset.height,
        "duration": asset.duration,
        "frames": asset.frames,
        "size_bytes": asset.size_bytes,
        "original_name": asset.original_name,
        "url": media_url(asset),
        "faces_url": url_for("studio_api.media_faces", media_id=asset.id),
    }


def job_dict(job: StudioJob) -> dict:
    """The API's JSON shape of a job's status."""
    result = None
    if job.status == JobStatus.DONE and job.result is not None:
        asset = job.result
        result = {
            "url": media_url(asset),
            "download_url": media_url(asset, download=True),
            "media_type": asset.content_type,
            "width": asset.width,
            "height": asset.height,
            "duration": asset.duration,
            "frames": asset.frames,
            "extras": [
                {
                    "name": name,
                    "url": url_for("studio_api.media_extra", media_id=asset.id, name=name),
                }
                for name in (job.details or {}).get("extra_outputs", [])
            ],
        }
    return {
        "job_id": job.id,
        "effect": job.effect,
        "params": job.params,
        "status": str(job.status),
        "progress": job.progress,
        "message": job.message,
        "error": job.error,
        "error_code": job.error_code,
        "attempts": job.attempts,
        "input": media_dict(job.input),
        "result": result,
        "details": job.details,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "status_url": url_for("studio_api.job_status", job_id=job.id),
    }


FACES_RETRY_AFTER = timedelta(minutes=2)


def request_faces(asset: MediaAsset, effect_name: str) -> dict | None:
    """The faces found in a media file for an effect, or None while a worker looks for them."""
    effect = effect_named(effect_name)
    found = (asset.faces or {}).get(effect.name)
    if found is not None:
        return {"status": "done", "faces": found}
    if asset.faces_error:
        return {"status": "failed", "error": asset.faces_error, "faces": []}
    now = utcnow()
    if asset.faces_requested_at is None or now - asset.faces_requested_at > FACES_RETRY_AFTER:
        try:
            queue.enqueue_faces(asset.id)
        except Exception as exc:
            log.exception("could not queue face detection for media %s", asset.id)
            raise AppError(
                "The job queue cannot be reached; try again later.", "queue_unavailable", 503
            ) from exc
        asset.faces_requested_at = now
        db.session.commit()
    return None
