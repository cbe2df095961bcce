"""The studio REST API under /api/v1/studio: media, faces, jobs, cancel, retry, OpenAPI."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, g, jsonify, make_response, request, url_for

from webapp import media
from webapp.errors import AppError, NotFound
from webapp.security import limiter
from webapp.studio import api_bp, jobs, openapi, people
from webapp.studio.access import studio_api
from webapp.studio.effects import all_effects
from webapp.studio.effects.base import ROLES
from webapp.studio.intake import MB, IncomingFile, store_upload
from webapp.studio.joblist import media_download_name
from webapp.studio.storage import extra_file


@api_bp.before_request
def studio_upload_limit() -> None:
    """Studio requests may carry a video and a source photo, so they get their own size limit."""
    request.max_content_length = 2 * current_app.config["STUDIO_MAX_UPLOAD_MB"] * MB


def _file(name: str) -> IncomingFile | None:
    """The multipart file field `name` (a browser's empty file input counts as absent)."""
    upload = request.files.get(name)
    if upload is None or not upload.filename:
        return None
    return IncomingFile(upload.filename, upload.stream)


@api_bp.post("/media")
@studio_api
def upload_media():
    """Store a photo or video (multipart field `media`) to pick faces in, then run jobs on."""
    upload = _file("media")
    if upload is None:
        raise AppError("Send the photo or video as multipart file field 'media'.", "missing_media")
    asset, created = store_upload(g.studio_user, upload)
    body = jobs.media_dict(asset)
    location = url_for("studio_api.media_info", media_id=asset.id)
    return jsonify(body), 201 if created else 200, {"Location": location}


@api_bp.get("/media/<int:media_id>")
@studio_api
def media_info(media_id: int):
    """One of your media files."""
    return jsonify(jobs.media_dict(jobs.get_media(g.studio_user, media_id)))


@api_bp.get("/media/<int:media_id>/file")
@studio_api
def media_file(media_id: int):
    """The file itself (with `?download=1` as an attachment); players may ask for ranges."""
    asset = jobs.get_media(g.studio_user, media_id)
    download = request.args.get("download") in {"1", "true", "yes"}
    name = media_download_name(asset) if download else None
    return media.send(
        asset.path, asset.content_type, download_name=name, cache_control="private, no-cache"
    )


@api_bp.get("/media/<int:media_id>/extra")
@studio_api
def media_extra(media_id: int):
    """An extra output of a result (`?name=`, e.g. a WebVTT subtitle track) its job lists."""
    asset = jobs.get_media(g.studio_user, media_id)
    found = extra_file(asset.path, request.args.get("name", ""))
    if found is None:
        raise NotFound("The result has no such extra file.")
    path, content_type = found
    relative = Path(path).resolve().relative_to(media.media_root().resolve()).as_posix()
    return media.send(relative, content_type, cache_control="private, no-cache")


@api_bp.get("/media/<int:media_id>/faces")
@studio_api
def media_faces(media_id: int):
    """The faces in a photo (a video's first frame): ids, boxes, employees, suggested keeps.

    202 with `{"status": "pending"}` while a worker looks; ask again a second later.
    """
    asset = jobs.get_media(g.studio_user, media_id)
    effect = request.args.get("effect", "anonymize")
    found = jobs.request_faces(asset, effect)
    if found is None:
        return jsonify(status="pending", media_id=asset.id), 202, {"Retry-After": "1"}
    return jsonify(
        media_id=asset.id, effect=effect, width=asset.width, height=asset.height, **found
    )


@api_bp.post("/jobs")
@studio_api
def create_job():
    """Start an effect on an upload (field `media`, or `media_id`); 202 with the status URL."""
    job = jobs.submit_job(
        g.studio_user,
        request.form.get("effect"),
        request.form.get("params"),
        media_file=_file("media"),
        media_id=request.form.get("media_id"),
        source_file=_file("source"),
        source_id=request.form.get("source_id"),
        others=_other_inputs(),
    )
    status_url = url_for("studio_api.job_status", job_id=job.id)
    return jsonify(job_id=job.id, status_url=status_url), 202, {"Location": status_url}


@api_bp.get("/jobs")
@studio_api
def list_jobs():
    """Your newest jobs with their status."""
    return jsonify(jobs=[jobs.job_dict(job) for job in jobs.list_jobs(g.studio_user)])


@api_bp.get("/jobs/<int:job_id>")
@studio_api
def job_status(job_id: int):
    """A job's status, progress and, when done, its result."""
    return jsonify(jobs.job_dict(jobs.get_job(g.studio_user, job_id)))


@api_bp.post("/jobs/<int:job_id>/cancel")
@studio_api
def cancel_job(job_id: int):
    """Cancel a queued or running job."""
    return jsonify(jobs.job_dict(jobs.cancel_job(g.studio_user, job_id)))


@api_bp.post("/jobs/<int:job_id>/retry")
@studio_api
def retry_job(job_id: int):
    """Queue a failed or cancelled job again."""
    job = jobs.retry_job(g.studio_user, job_id)
    return jsonify(jobs.job_dict(job)), 202


def _other_inputs() -> dict:
    """The inputs of roles other than media and source that the request sent."""
    found: dict = {}
    for role in ROLES:
        if role in ("media", "source"):
            continue
        if role == "text":
            if request.form.get("text") is not None:
                found["text"] = request.form["text"]
            continue
        upload, media_id = _file(role), request.form.get(f"{role}_id")
        if upload is not None or media_id:
            found[role] = (upload, media_id)
    return found


@api_bp.get("/people/candidates")
@limiter.limit(lambda: current_app.config["STUDIO_PEOPLE_LIMIT"], scope="studio-people")
@studio_api
def people_candidates():
    """A few generated people of a gender and age band to swap onto a face (face_swap's
    `person`); `batch=1, 2, ...` gives others. 202 while a worker makes more of the band."""
    body, complete = people.list_candidates(
        current_app.config,
        request.args.get("gender"),
        request.args.get("age_band"),
        request.args.get("count"),
        request.args.get("batch"),
    )
    if complete:
        return jsonify(body)
    return jsonify(body), 202, {"Retry-After": "2"}


@api_bp.get("/people/<person_id>/thumbnail")
@studio_api
def person_thumbnail(person_id: str):
    """A candidate's face, 160 px JPEG; cached by the browser (an id's face never changes)."""
    person, etag = people.thumbnail_etag(current_app.config, person_id)
    if etag in request.if_none_match:  # the browser has it: no need to make it again
        response = make_response("", 304)
    else:
        response = make_response(people.thumbnail(current_app.config, person))
        response.content_type = "image/jpeg"
    response.set_etag(etag)
    response.headers["Cache-Control"] = people.THUMBNAIL_CACHE
    return response


@api_bp.get("/effects")
@studio_api
def list_effects():
    """The effects with their inputs, output and parameter schema (to build a form from)."""
    return jsonify(effects=[effect.describe() for effect in all_effects().values()])


@api_bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 description of this API (public, like any API reference)."""
    return jsonify(openapi.document(current_app.config))
