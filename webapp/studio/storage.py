"""Studio files on disk: where each user's uploads and results live, moving files into place, and
turning a read-only or full MEDIA_DIR into a clear error (507/503) instead of a crash.

Used by the web process (intake) and the worker (results); imports no web or job module.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from flask import current_app

from ml.images import decode_image
from webapp import media
from webapp.errors import AppError
from webapp.extensions import db
from webapp.studio.models import MediaAsset, MediaKind, MediaOrigin

CHUNK = 1024 * 1024
SUFFIXES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
}
FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}


class StorageError(AppError):
    """The media folder cannot take files: full (507) or read-only (503)."""


def storage_error(exc: OSError) -> StorageError:
    """The user-facing error for an OSError from writing studio files."""
    if exc.errno in FULL:
        return StorageError(
            "The server's media storage is full; the file was not kept. Try again later.",
            "storage_full",
            507,
        )
    return StorageError(
        "The server's media storage cannot be written to; the file was not kept. Try again later.",
        "storage_unavailable",
        503,
    )


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Turn a full or read-only media folder (any OSError while writing) into StorageError."""
    try:
        yield
    except OSError as exc:
        if exc.errno in FULL | READ_ONLY or isinstance(exc, PermissionError):
            raise storage_error(exc) from exc
        raise


def studio_folder(owner_id: int) -> str:
    """The folder (relative to MEDIA_DIR) that holds one user's studio files."""
    return f"studio/{owner_id}"


def scratch_dir() -> Path:
    """Where uploads and results are written before they are moved into place."""
    path = media.media_root() / "studio" / "tmp"
    with writing():
        path.mkdir(parents=True, exist_ok=True)
    return path


def job_scratch(job_id: int) -> Path:
    """A fresh scratch folder for one run of a job (what a killed run left is removed)."""
    path = media.media_root() / "studio" / "tmp" / f"job-{job_id}"
    shutil.rmtree(path, ignore_errors=True)
    with writing():
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
    return path


def store_result(
    owner_id: int, produced: Path, kind: MediaKind, content_type: str, info: dict
) -> MediaAsset:
    """Move a file a job produced into the owner's folder and record it (the caller commits)."""
    relative = f"{studio_folder(owner_id)}/results/{uuid.uuid4().hex}{SUFFIXES[content_type]}"
    target = media.absolute(relative)
    digest = hashlib.sha256()
    with open(produced, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    with writing():
        target.parent.mkdir(parents=True, exist_ok=True)
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


EXTRA_TYPES = {".vtt": "text/vtt", ".json": "application/json", ".txt": "text/plain"}


def extras_folder(result_path: str) -> Path:
    """The folder beside a result that holds the job's extra outputs (e.g. a WebVTT track)."""
    return media.absolute(result_path).with_suffix(".extra")


def store_extras(result_path: str, extras: dict[str, Path]) -> list[str]:
    """Move an effect's extra files beside its result; returns their names."""
    folder = extras_folder(result_path)
    with writing():
        folder.mkdir(parents=True, exist_ok=True)
        for name, path in extras.items():
            shutil.move(path, folder / Path(name).name)
    return sorted(Path(name).name for name in extras)


def extra_file(result_path: str, name: str) -> tuple[Path, str] | None:
    """An extra output of a result by its name (only names in its folder), and its type."""
    folder = extras_folder(result_path)
    if not folder.is_dir() or name not in {p.name for p in folder.iterdir() if p.is_file()}:
        return None
    return folder / name, EXTRA_TYPES.get(Path(name).suffix, "application/octet-stream")


def load_image(asset: MediaAsset) -> np.ndarray:
    """The stored image as RGB, EXIF orientation applied."""
    return decode_image(
        media.absolute(asset.path).read_bytes(), current_app.config["MAX_IMAGE_PIXELS"]
    )
