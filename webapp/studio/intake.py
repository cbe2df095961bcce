"""Studio intake: receive an upload, tell what it is from its content, check it, keep it.

Nothing is kept if a file is refused; decompression bombs and huge dimensions answer 413, a
full or read-only media folder 507/503.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from ml.images import ImageError, decode_image
from webapp import media
from webapp.auth.models import User
from webapp.errors import AppError
from webapp.extensions import db
from webapp.studio.models import MediaAsset, MediaKind, MediaOrigin
from webapp.studio.storage import CHUNK, SUFFIXES, scratch_dir, studio_folder, writing

MB = 1024 * 1024
IMAGE_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
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
        with writing(), open(path, "wb") as out:
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
    import warnings

    from PIL import Image, UnidentifiedImageError

    limit = current_app.config["MAX_IMAGE_PIXELS"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image_format = image.format
                width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError("image_too_large", "The image has too many pixels.") from exc
    except UnidentifiedImageError as exc:
        raise ImageError("not_an_image", "The file is not an image we can read.") from exc
    except OSError as exc:
        raise ImageError("corrupt_image", "The image is damaged or truncated.") from exc
    if image_format not in IMAGE_TYPES:
        raise ImageError(
            "unsupported_image", f"{image_format} images are not accepted; send JPEG, PNG or WebP."
        )
    if width * height > limit:
        raise ImageError(
            "image_too_large",
            f"The image is {width}x{height}; at most {limit:,} pixels are accepted.",
        )
    rgb = decode_image(path.read_bytes(), limit)
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
        with writing():
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
