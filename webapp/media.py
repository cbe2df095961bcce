"""Files under MEDIA_DIR: written atomically, addressed by a relative path stored in the DB."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from flask import current_app


def media_root() -> Path:
    """The configured media folder."""
    return Path(current_app.config["MEDIA_DIR"])


def save(folder: str, data: bytes, suffix: str) -> str:
    """Write `data` to a new file under `folder` and return its path relative to MEDIA_DIR."""
    relative = Path(folder) / f"{uuid.uuid4().hex}{suffix}"
    target = media_root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(data)
    os.replace(partial, target)
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
