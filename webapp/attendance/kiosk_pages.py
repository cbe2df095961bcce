"""The kiosk screen: a browser page on a tablet or PC with a webcam."""

from __future__ import annotations

from flask import current_app, render_template

from webapp.attendance import bp
from webapp.attendance.kiosk_messages import GESTURE_HINTS


@bp.get("/kiosk")
def kiosk_page():
    """The kiosk page; it asks for the kiosk token once and keeps it on the device."""
    return render_template(
        "kiosk/index.html",
        fps=current_app.config["KIOSK_FPS"],
        browser_pose=current_app.config["KIOSK_BROWSER_POSE"],
        gesture_hints={name: str(text) for name, text in GESTURE_HINTS.items()},
    )
