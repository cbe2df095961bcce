"""Teach mode pages: gesture samples, training, and which model each kiosk uses."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from webapp.admin import bp
from webapp.admin.params import parse_int
from webapp.attendance import teach
from webapp.attendance.kiosk_models import GestureModelVersion
from webapp.attendance.models import Kiosk
from webapp.auth.access import roles_required
from webapp.auth.models import Role
from webapp.errors import AppError
from webapp.extensions import db
from webapp.messages import describe

admin_only = roles_required(Role.ADMIN)


@bp.get("/gestures")
@admin_only
def gestures():
    """Samples per gesture, trained models, and the kiosks' choice."""
    versions = db.session.scalars(
        select(GestureModelVersion).order_by(GestureModelVersion.id.desc())
    ).all()
    kiosks = db.session.scalars(select(Kiosk).order_by(Kiosk.name)).all()
    return render_template(
        "admin/gestures.html",
        counts=teach.sample_counts(),
        versions=versions,
        kiosks=kiosks,
        minimum=teach.MIN_SAMPLES_PER_GESTURE,
    )


@bp.post("/gestures/samples")
@admin_only
def gesture_samples_upload():
    """Add labelled samples from uploaded photos."""
    files = [(f.filename or "photo", f.read()) for f in request.files.getlist("photos") if f]
    try:
        report = teach.add_samples(request.form.get("label", ""), files, current_user)
    except AppError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.gestures"))
    if report.added:
        flash(_("%(count)d sample(s) added.", count=report.added), "success")
    for name, code in report.rejected:
        flash(
            _("%(name)s was not used: %(reason)s", name=name, reason=describe(code, code)), "error"
        )
    return redirect(url_for("admin.gestures"))


@bp.post("/gestures/samples/frame")
@admin_only
def gesture_sample_frame():
    """Add one labelled sample from the camera (JSON for the recording page)."""
    upload = request.files.get("frame")
    if upload is None:
        raise AppError("Send the camera frame as multipart field 'frame'.", "missing_frame")
    sample = teach.add_sample(request.form.get("label", ""), upload.read(), "camera", current_user)
    return jsonify(id=sample.id, label=sample.label, counts=teach.sample_counts())


@bp.post("/gestures/train")
@admin_only
def gesture_train():
    """Train a new gesture model and show its cross-validated accuracy."""
    try:
        version = teach.train_gesture_model(current_user)
    except AppError as exc:
        flash(exc.message, "error")
    else:
        flash(
            _(
                "Gesture model %(v)d trained: cross-validated accuracy %(acc).1f%%.",
                v=version.id,
                acc=version.accuracy * 100,
            ),
            "success",
        )
    return redirect(url_for("admin.gestures"))


@bp.post("/kiosks/<int:kiosk_id>/gesture-model")
@admin_only
def kiosk_gesture_model(kiosk_id: int):
    """Switch a kiosk to a trained model or back to the built-in rules."""
    choice = request.form.get("model", "rules")
    model_id = None if choice == "rules" else parse_int(choice, "model")
    teach.assign_model(kiosk_id, model_id, current_user)
    flash(_("Kiosk updated."), "success")
    back = "admin.kiosks" if request.form.get("back") == "kiosks" else "admin.gestures"
    return redirect(url_for(back))
