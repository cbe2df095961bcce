"""Studio pages: upload and pick faces, the job list with live progress, the result viewer, and
personal API tokens. The pages talk to the REST API (webapp/studio/api.py) from the browser."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.auth.access import roles_required
from webapp.auth.tokens import create_token, revoke_token, user_tokens
from webapp.studio import bp, joblist, jobs
from webapp.studio.access import STUDIO_ROLES
from webapp.studio.effects import all_effects
from webapp.studio.forms import TokenForm


@bp.context_processor
def studio_labels() -> dict:
    """Translated names of job statuses and effects, for the pages and their scripts."""
    return {
        "status_labels": {
            "queued": _("queued"),
            "running": _("running"),
            "done": _("done"),
            "failed": _("failed"),
            "cancelled": _("cancelled"),
        },
        "effect_labels": {name: str(e.describe()["label"]) for name, e in all_effects().items()},
    }


@bp.get("/")
@roles_required(*STUDIO_ROLES)
def index():
    """Upload a photo or video, pick faces and an effect; your jobs below with their progress."""
    config = current_app.config
    return render_template(
        "studio/index.html",
        rows=[
            {
                "job": job,
                "file": joblist.file_name(job),
                "options": joblist.options_text(job),
                "created": joblist.site_time(job.created_at),
            }
            for job in jobs.list_jobs(current_user)
        ],
        site_timezone=config["SITE_TIMEZONE"],
        effects=[
            {
                **effect.describe(),
                "page_notices": effect.page_notices(config),
                "widget_script": effect.widget_script,
                "texts": effect.page_texts(),
                "urls": {key: url_for(endpoint) for key, endpoint in effect.widget_urls.items()},
            }
            for effect in all_effects().values()
        ],
        limits={
            "upload_mb": config["STUDIO_MAX_UPLOAD_MB"],
            "video_seconds": config["STUDIO_MAX_VIDEO_SECONDS"],
            "image_pixels": config["MAX_IMAGE_PIXELS"],
            "video_pixels": config["STUDIO_MAX_VIDEO_PIXELS"],
        },
    )


@bp.get("/jobs/<int:job_id>")
@roles_required(*STUDIO_ROLES)
def job(job_id: int):
    """One job: progress while it runs, then the result to play and download."""
    studio_job = jobs.get_job(current_user, job_id)
    effect = all_effects().get(studio_job.effect)
    summary = effect.summary(studio_job.details or {}) if effect and studio_job.details else []
    return render_template(
        "studio/job.html", job=studio_job, status=jobs.job_dict(studio_job), summary=summary
    )


@bp.get("/tokens")
@roles_required(*STUDIO_ROLES)
def tokens():
    """Your personal API tokens."""
    return render_template(
        "studio/tokens.html", form=TokenForm(), tokens=user_tokens(current_user), secret=None
    )


@bp.post("/tokens")
@roles_required(*STUDIO_ROLES)
def new_token():
    """Make a token and show it once."""
    form = TokenForm()
    if not form.validate_on_submit():
        return render_template(
            "studio/tokens.html", form=form, tokens=user_tokens(current_user), secret=None
        ), 400
    _token, secret = create_token(current_user, form.name.data or "")
    flash(_("Copy the token now: it is not shown again."), "success")
    return render_template(
        "studio/tokens.html",
        form=TokenForm(formdata=None),
        tokens=user_tokens(current_user),
        secret=secret,
    )


@bp.post("/tokens/<int:token_id>/revoke")
@roles_required(*STUDIO_ROLES)
def revoke(token_id: int):
    """Revoke a token; requests with it are refused from now on."""
    revoke_token(current_user, token_id)
    flash(_("The token was revoked."), "info")
    return redirect(url_for("studio.tokens"))
