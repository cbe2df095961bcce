"""Files under MEDIA_DIR: written atomically, addressed by a relative path stored in the DB."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import click
from flask import Response, current_app, send_file
from flask.cli import AppGroup

from webapp.errors import AppError

log = logging.getLogger(__name__)
PARTIAL_SUFFIX = ".part"


def media_root() -> Path:
    """The configured media folder."""
    return Path(current_app.config["MEDIA_DIR"])


FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class MediaStorageError(AppError):
    """MEDIA_DIR cannot take the file: full (507) or read-only/unwritable (503)."""


def storage_error(exc: OSError) -> MediaStorageError:
    """The user-facing error for a failed write under MEDIA_DIR."""
    if exc.errno in FULL:
        return MediaStorageError(
            "The server's media storage is full; nothing was kept. Try again later.",
            "storage_full",
            507,
        )
    return MediaStorageError(
        "The server's media storage cannot be written to; nothing was kept. Try again later.",
        "storage_unavailable",
        503,
    )


def save(folder: str, data: bytes, suffix: str) -> str:
    """Write `data` to a new file under `folder` and return its path relative to MEDIA_DIR.

    A full or read-only MEDIA_DIR raises MediaStorageError (507/503) and leaves no partial file.
    """
    relative = Path(folder) / f"{uuid.uuid4().hex}{suffix}"
    target = media_root() / relative
    partial = target.with_suffix(target.suffix + PARTIAL_SUFFIX)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        os.replace(partial, target)
    except OSError as exc:
        log.error("cannot store %s under %s: %s", relative, media_root(), exc)
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise storage_error(exc) from exc
    return relative.as_posix()


def absolute(relative: str) -> Path:
    """Resolve a stored relative path, refusing anything outside MEDIA_DIR."""
    root = media_root().resolve()
    path = (root / relative).resolve()
    if root not in path.parents:
        raise ValueError(f"{relative!r} is outside the media folder")
    return path


def remove(relative: str) -> None:
    """Delete a stored file if it is still there."""
    absolute(relative).unlink(missing_ok=True)


def send(
    relative: str,
    mimetype: str,
    *,
    download_name: str | None = None,
    cache_control: str = "private, no-store",
) -> Response:
    """Answer with a stored file, after the caller checked who may see it.

    Behind Nginx (MEDIA_ACCEL_REDIRECT set) Flask only answers with an `X-Accel-Redirect` to
    Nginx's internal media location, which then sends the file (ranges included); otherwise
    Flask sends it itself.
    """
    path = absolute(relative)  # refuses paths outside MEDIA_DIR
    prefix = current_app.config.get("MEDIA_ACCEL_REDIRECT") or ""
    if prefix:
        if not path.is_file():
            raise FileNotFoundError(relative)
        inner = path.relative_to(media_root().resolve()).as_posix()
        response = Response(mimetype=mimetype)
        response.headers["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(inner)
        if download_name:
            response.headers["Content-Disposition"] = (
                f"attachment; filename*=UTF-8''{quote(download_name)}"
            )
    else:
        response = send_file(
            path,
            mimetype=mimetype,
            as_attachment=download_name is not None,
            download_name=download_name,
            conditional=True,
            max_age=0,
        )
    response.headers["Cache-Control"] = cache_control
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def clean_partials(root: Path, older_than_seconds: float = 3600.0) -> list[Path]:
    """Delete `.part` files a crashed upload left under `root`; return what was removed.

    Only files untouched for `older_than_seconds` go, so an upload being written is safe.
    """
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    cutoff = time.time() - older_than_seconds
    for path in root.rglob(f"*{PARTIAL_SUFFIX}"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except OSError as exc:  # read-only or vanished: report, never stop a start
            log.warning("could not remove stale partial upload %s: %s", path, exc)
    if removed:
        log.info("removed %d stale partial upload(s) under %s", len(removed), root)
    return removed


media_cli = AppGroup("media", help="Files under MEDIA_DIR.")


@media_cli.command("clean-partial")
@click.option("--older-than", type=float, default=3600.0, help="Seconds untouched (default 3600).")
def clean_partial_command(older_than: float) -> None:
    """Delete partial uploads left by a crash."""
    removed = clean_partials(media_root(), older_than)
    click.echo(f"removed {len(removed)} stale partial upload(s)")


def init_app(app) -> None:
    """Register `flask media ...`."""
    app.cli.add_command(media_cli)
