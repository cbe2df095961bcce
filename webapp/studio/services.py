"""Studio operations: uploads, jobs, cancel and retry; each user reaches only their own rows."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from flask import current_app, url_for
from sqlalchemy import select, update

from ml.images import ImageError, decode_image
from webapp import media
from webapp.auth.models import User
from webapp.db import utcnow
from webapp.errors import AppError, NotFound
from webapp.extensions import db
from webapp.studio.effects import ParamError, effect_named
from webapp.studio.models import JobStatus, MediaAsset, MediaKind, MediaOrigin, StudioJob

log = logging.getLogger(__name__)

MB = 1024 * 1024
CHUNK = 1024 * 1024
IMAGE_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
SUFFIXES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
}
# Box types that may open an old QuickTime file that has no `ftyp` box.
QUICKTIME_FIRST_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# ISO media brands of still images (HEIF, HEIC, AVIF): an `ftyp` box, but not a video.
IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif",
                b"avis"}  # fmt: skip
MEDIA_ERROR_STATUS = {"video_too_long": 413, "video_too_large": 413}


@dataclass(frozen=True)
class IncomingFile:
    """An uploaded file as the view received it: a name and a readable binary stream."""

    filename: str | None
    stream: object  # has .read(size)


def studio_folder(owner_id: int) -> str:
    """The folder (relative to MEDIA_DIR) that holds one user's studio files."""
    return f"studio/{owner_id}"


def scratch_dir() -> Path:
    """Where uploads and results are written before they are moved into place."""
    path = media.media_root() / "studio" / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sniff_video(head: bytes) -> str | None:
    """The video content type that the first bytes of a file announce, if any."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        if head[8:12] in IMAGE_BRANDS:
            return "image/heif"
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if len(head) >= 8 and head[4:8] in QUICKTIME_FIRST_BOXES:
        return "video/quicktime"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska or WebM; only WebM is accepted
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    return None


def _receive(upload: IncomingFile, limit_bytes: int) -> tuple[Path, str, int, bytes]:
    """Copy an upload to a scratch file; return (path, sha256, size, first bytes)."""
    path = scratch_dir() / f"{uuid.uuid4().hex}.upload"
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with open(path, "wb") as out:
            while chunk := upload.stream.read(CHUNK):
                size += len(chunk)
                if size > limit_bytes:
                    raise AppError(
                        f"The file is larger than {limit_bytes // MB} MB.", "file_too_large", 413
                    )
                if len(head) < 64:
                    head += chunk[: 64 - len(head)]
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise AppError("The file is empty.", "empty_file")
    return path, digest.hexdigest(), size, head


@dataclass(frozen=True)
class Checked:
    """What content checks found in a file."""

    kind: MediaKind
    content_type: str
    width: int
    height: int
    duration: float | None
    frames: int | None
    fps: float | None


def check_image(path: Path) -> Checked:
    """Decode an image fully (type, pixel limit, damage); raise ImageError when unusable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image_format = image.format
    except UnidentifiedImageError as exc:
        raise ImageError("not_an_image", "The file is not an image we can read.") from exc
    except OSError as exc:
        raise ImageError("corrupt_image", "The image is damaged or truncated.") from exc
    if image_format not in IMAGE_TYPES:
        raise ImageError(
            "unsupported_image", f"{image_format} images are not accepted; send JPEG, PNG or WebP."
        )
    rgb = decode_image(path.read_bytes(), current_app.config["MAX_IMAGE_PIXELS"])
    height, width = rgb.shape[:2]
    return Checked(MediaKind.IMAGE, IMAGE_TYPES[image_format], width, height, None, 1, None)


def check_video(path: Path, content_type: str) -> Checked:
    """Probe a video (a real video stream with frames, within the limits) or raise AppError."""
    from ml.video import MediaError, probe

    config = current_app.config
    try:
        info = probe(
            path,
            max_duration=config["STUDIO_MAX_VIDEO_SECONDS"],
            max_pixels=config["STUDIO_MAX_VIDEO_PIXELS"],
        )
    except MediaError as exc:
        raise AppError(exc.message, exc.code, MEDIA_ERROR_STATUS.get(exc.code, 400)) from exc
    if info.duration > config["STUDIO_MAX_VIDEO_SECONDS"]:
        raise AppError(
            f"The video lasts {info.duration:.1f} s; at most "
            f"{config['STUDIO_MAX_VIDEO_SECONDS']:g} s are accepted.",
            "video_too_long",
            413,
        )
    if info.width * info.height > config["STUDIO_MAX_VIDEO_PIXELS"]:
        raise AppError(
            f"The video is {info.width}x{info.height}; at most "
            f"{config['STUDIO_MAX_VIDEO_PIXELS']:,} pixels a frame are accepted.",
            "video_too_large",
            413,
        )
    return Checked(
        MediaKind.VIDEO,
        content_type,
        info.width,
        info.height,
        float(info.duration),
        int(info.frames),
        float(info.fps),
    )


def check_content(path: Path, head: bytes) -> Checked:
    """Tell what a file is from its content and check it; raise a 4xx error if unusable."""
    video_type = sniff_video(head)
    if video_type == "image/heif":
        raise ImageError(
            "unsupported_image",
            "HEIF, HEIC and AVIF images are not accepted; send JPEG, PNG or WebP.",
        )
    if video_type == "video/x-matroska":
        raise AppError(
            "Matroska videos are not accepted; send MP4, MOV or WebM.", "unsupported_video", 415
        )
    if video_type:
        return check_video(path, video_type)
    try:
        return check_image(path)
    except ImageError as exc:
        if exc.code == "not_an_image":
            raise AppError(
                "The file is neither a photo (JPEG, PNG, WebP) nor a video (MP4, MOV, WebM).",
                "unsupported_media",
                415,
            ) from exc
        raise


def store_upload(
    owner: User, upload: IncomingFile, want: MediaKind | None = None
) -> tuple[MediaAsset, bool]:
    """Check an upload by its content and keep it for `owner`; nothing is kept if it is refused.

    Returns the media and whether it is new: the same file uploaded again by the same user gives
    back the media already stored.
    """
    limit = int(current_app.config["STUDIO_MAX_UPLOAD_MB"]) * MB
    scratch, sha256, size, head = _receive(upload, limit)
    try:
        checked = check_content(scratch, head)
        if want is not None and checked.kind != want:
            raise AppError(f"This file must be an {want.value}.", f"{want.value}_required")
        existing = db.session.scalar(
            select(MediaAsset).where(
                MediaAsset.owner_id == owner.id,
                MediaAsset.sha256 == sha256,
                MediaAsset.origin == MediaOrigin.UPLOAD,
            )
        )
        if existing is not None and media.absolute(existing.path).is_file():
            return existing, False
        relative = f"{studio_folder(owner.id)}/{uuid.uuid4().hex}{SUFFIXES[checked.content_type]}"
        target = media.absolute(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(scratch, target)
        asset = MediaAsset(
            owner_id=owner.id,
            kind=checked.kind,
            origin=MediaOrigin.UPLOAD,
            path=relative,
            sha256=sha256,
            content_type=checked.content_type,
            size_bytes=size,
            original_name=(os.path.basename(upload.filename or "") or None),
            width=checked.width,
            height=checked.height,
            duration=checked.duration,
            frames=checked.frames,
            fps=checked.fps,
        )
        db.session.add(asset)
        try:
            db.session.commit()
        except Exception:
            db.session.rollback()
            target.unlink(missing_ok=True)
            raise
        return asset, True
    finally:
        scratch.unlink(missing_ok=True)


def store_result(
    owner_id: int, produced: Path, kind: MediaKind, content_type: str, info: dict
) -> MediaAsset:
    """Move a file a job produced into the owner's folder and record it (the caller commits)."""
    relative = f"{studio_folder(owner_id)}/results/{uuid.uuid4().hex}{SUFFIXES[content_type]}"
    target = media.absolute(relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(produced, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    shutil.move(produced, target)
    asset = MediaAsset(
        owner_id=owner_id,
        kind=kind,
        origin=MediaOrigin.RESULT,
        path=relative,
        sha256=digest.hexdigest(),
        content_type=content_type,
        size_bytes=target.stat().st_size,
        width=int(info["width"]),
        height=int(info["height"]),
        duration=info.get("duration"),
        frames=info.get("frames"),
        fps=info.get("fps"),
    )
    db.session.add(asset)
    db.session.flush()
    return asset


def load_image(asset: MediaAsset) -> np.ndarray:
    """The stored image as RGB, EXIF orientation applied."""
    return decode_image(
        media.absolute(asset.path).read_bytes(), current_app.config["MAX_IMAGE_PIXELS"]
    )


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
    except ValueError as exc:
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
) -> StudioJob:
    """Check the effect and its parameters, record the job and queue it."""
    effect = effect_named(effect_name)
    try:
        clean = effect.check_params(params)
    except ParamError as exc:
        raise AppError(str(exc), exc.code) from exc
    if effect.needs_source:
        if source_asset is None:
            raise AppError(
                f"{effect.name} needs the source face as multipart file field 'source'.",
                "missing_source",
            )
        if source_asset.kind != MediaKind.IMAGE:
            raise AppError("The source must be a photo.", "image_required")
    elif source_asset is not None:
        raise AppError(f"{effect.name} takes no source file.", "unexpected_source")
    job = StudioJob(
        owner_id=owner.id,
        effect=effect.name,
        params=clean,
        input_id=input_asset.id,
        source_id=source_asset.id if source_asset else None,
        status=JobStatus.QUEUED,
        progress=0,
        message="Waiting for a worker.",
    )
    db.session.add(job)
    db.session.commit()
    _enqueue_or_fail(job)
    return job


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
        if not str(media_id).isdigit():
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
) -> StudioJob:
    """A job from an API request: parameters are checked first, then the files; if anything is
    refused, the files this request stored are removed again.
    """
    effect = effect_named(effect_name)
    params = parse_params(params_text)
    try:
        effect.check_params(params)
    except ParamError as exc:
        raise AppError(str(exc), exc.code) from exc
    if effect.needs_source and source_file is None and not source_id:
        raise AppError(
            f"{effect.name} needs the source face as multipart file field 'source'.",
            "missing_source",
        )
    new: list[MediaAsset] = []
    try:
        input_asset = _media_from(owner, media_file, media_id, "media", None, new)
        if input_asset is None:
            raise AppError(
                "Send the photo or video as multipart file field 'media'.", "missing_media"
            )
        source = _media_from(owner, source_file, source_id, "source", MediaKind.IMAGE, new)
        return create_job(owner, effect.name, params, input_asset, source)
    except BaseException:
        db.session.rollback()
        for asset in new:
            discard_upload(asset)
        raise


def _enqueue_or_fail(job: StudioJob) -> None:
    """Put the job on the queue; if the queue cannot be reached, fail the job and say so."""
    from webapp.studio.queue import enqueue_job

    try:
        enqueue_job(job.id)
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
        from webapp.studio.queue import enqueue_faces

        try:
            enqueue_faces(asset.id)
        except Exception as exc:
            log.exception("could not queue face detection for media %s", asset.id)
            raise AppError(
                "The job queue cannot be reached; try again later.", "queue_unavailable", 503
            ) from exc
        asset.faces_requested_at = now
        db.session.commit()
    return None
