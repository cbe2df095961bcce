"""The job list's words: which file, which effect with which options, when (site time), and the
name a result is downloaded under."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import PurePath
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from webapp.extensions import db
from webapp.studio.effects.base import localized
from webapp.studio.effects.registry import all_effects
from webapp.studio.models import MediaAsset, StudioJob
from webapp.studio.storage import SUFFIXES

TIME_FORMAT = "%Y-%m-%d %H:%M"  # the page's JavaScript writes the same (static/js/studio.js)


def site_time(moment: datetime | None) -> str:
    """A stored UTC moment on the site's clock (SITE_TIMEZONE), as every studio row shows it."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(current_app.config["SITE_TIMEZONE"])).strftime(TIME_FORMAT)


def _value_text(spec: dict, value) -> str | None:
    if value is None:  # an optional parameter left out (e.g. face swap's generated person)
        return None
    if isinstance(value, bool):
        return _("on") if value else _("off")
    if "x-faces" in spec and isinstance(value, list):
        return ngettext("%(num)d face", "%(num)d faces", len(value))
    if isinstance(value, list):
        return ngettext("%(num)d item", "%(num)d items", len(value))
    if isinstance(value, dict):
        return None
    labels = spec.get("x-labels") or {}
    if value in labels:
        return localized(labels[value])
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def options_text(job: StudioJob) -> str:
    """The job's options in words, e.g. "Strength 0.8 · Inked outlines on"."""
    effect = all_effects().get(job.effect)
    properties = (effect.params_schema.get("properties", {}) if effect else {}) or {}
    parts = []
    params = job.params or {}
    for key in sorted(params):  # the page's script gets them sorted too (JSON with sort_keys)
        value = params[key]
        spec = properties.get(key, {})
        text = _value_text(spec, value)
        if text is not None:
            title = localized(spec.get("x-title")) or spec.get("title") or key
            parts.append(f"{title} {text}")
    return " · ".join(parts)


def file_name(job: StudioJob) -> str:
    """The name the input was uploaded under (or "photo"/"video" when it had none)."""
    return job.input.original_name or (_("video") if str(job.input.kind) == "video" else _("photo"))


def download_name(job: StudioJob, content_type: str) -> str:
    """holiday.jpg through face_swap -> "holiday-face_swap.jpg" (safe characters only)."""
    stem = PurePath(job.input.original_name or f"media-{job.input.id}").stem
    stem = re.sub(r"[^\w.\- ]+", "_", stem).strip(" ._") or f"media-{job.input.id}"
    return f"{stem[:80]}-{job.effect}{SUFFIXES.get(content_type, '')}"


def media_download_name(asset: MediaAsset) -> str:
    """A result is named after its job's input and effect; an upload keeps its own name."""
    job = db.session.scalar(select(StudioJob).where(StudioJob.result_id == asset.id).limit(1))
    if job is not None:
        return download_name(job, asset.content_type)
    suffix = SUFFIXES.get(asset.content_type, "")
    if asset.original_name:
        return PurePath(asset.original_name).stem[:80] + suffix
    return f"{asset.origin}-{asset.id}{suffix}"
