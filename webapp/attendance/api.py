"""JSON API for recognition (and, later, the kiosk protocol)."""

from __future__ import annotations

from flask import current_app, g, jsonify, request

from ml.errors import NoFaceError
from ml.images import decode_image
from webapp.attendance import bp
from webapp.attendance.access import kiosk_or_admin_required
from webapp.errors import AppError
from webapp.recognition.services import recognize
from webapp.recognition.timing import stage

DETECTOR_PRESETS = ("photo", "kiosk")


def read_image_field(name: str = "image"):
    """Decode the uploaded image in multipart field `name`, or raise a 4xx error."""
    upload = request.files.get(name)
    if upload is None:
        raise AppError(f"Send the image as multipart field {name!r}.", "missing_image")
    return decode_image(upload.read(), current_app.config["MAX_IMAGE_PIXELS"])


@bp.post("/api/v1/recognize")
@kiosk_or_admin_required
def recognize_image():
    """Name every face in an uploaded image."""
    preset = request.form.get("detector") or ("kiosk" if g.kiosk else "photo")
    if preset not in DETECTOR_PRESETS:
        raise AppError(f"detector must be one of {', '.join(DETECTOR_PRESETS)}.", "bad_detector")
    with stage("decode"):
        rgb = read_image_field()
    faces, model_version = recognize(rgb, preset)
    if not faces:
        raise NoFaceError()
    return jsonify(faces=[face.as_dict() for face in faces], model_version=model_version)
