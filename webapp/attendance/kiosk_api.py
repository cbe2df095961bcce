"""The kiosk JSON protocol (/api/v1/kiosk/...): sessions, frames and the direction toggle."""

from __future__ import annotations

from flask import current_app, g, jsonify, request

from webapp.attendance import bp, flow, kiosk
from webapp.attendance.access import kiosk_required
from webapp.attendance.kiosk_messages import describe
from webapp.attendance.models import AttendanceEvent
from webapp.errors import AppError
from webapp.extensions import db


def session_view(
    result_or_session, face_box=None, head_box=None, gesture=None, stale=False, pose=None
):
    """The JSON a kiosk client renders."""
    session = getattr(result_or_session, "session", result_or_session)
    state = session.state
    settings = kiosk.flow_settings()
    event = db.session.get(AttendanceEvent, state["event_id"]) if state.get("event_id") else None
    challenge = state.get("challenge") or []
    step = state.get("step", 0)
    return {
        "session_id": session.id,
        "phase": state["phase"],
        "message_code": state["message"],
        "message": describe(state, event),
        "employee": (
            {"id": state["employee_id"], "name": state["name"]}
            if state["phase"] != "idle" and state.get("employee_id")
            else None
        ),
        "similarity": round(state.get("similarity") or 0.0, 4),
        "challenge": challenge,
        "step": step,
        "next_gesture": challenge[step] if state["phase"] == "challenge" else None,
        "direction": state.get("direction"),
        "gesture": state.get("gesture") if gesture is None else gesture,
        "face_box": face_box,
        "head_box": head_box,
        "stale": stale,
        "pose": pose,
        "hold": flow.hold_progress(state, settings),
        "seconds_left": flow.seconds_left(state, settings),
        "timeout_seconds": settings.timeout_seconds,
        "event": (
            {
                "id": event.id,
                "kind": event.kind.value,
                "status": event.status.value,
                "occurred_at": event.occurred_at.isoformat(),
            }
            if event
            else None
        ),
    }


@bp.post("/api/v1/kiosk/sessions")
@kiosk_required
def kiosk_session_start():
    """Open a check-in session for this kiosk screen."""
    session = kiosk.start_session(g.kiosk)
    return jsonify(session_view(session)), 201


@bp.get("/api/v1/kiosk/sessions/<session_id>")
@kiosk_required
def kiosk_session_get(session_id: str):
    """The session's current state."""
    return jsonify(session_view(kiosk.get_session(g.kiosk, session_id)))


@bp.post("/api/v1/kiosk/sessions/<session_id>/frames")
@kiosk_required
def kiosk_frame(session_id: str):
    """Process one camera frame (multipart field `frame`, JPEG/PNG/WebP)."""
    upload = request.files.get("frame")
    if upload is None:
        raise AppError("Send the camera frame as multipart field 'frame'.", "missing_frame")
    result = kiosk.process_frame(
        g.kiosk, session_id, upload.read(), frame_key=request.headers.get("Idempotency-Key")
    )
    return jsonify(
        session_view(
            result, result.face_box, result.head_box, result.gesture, result.stale, result.pose
        )
    )


@bp.post("/api/v1/kiosk/sessions/<session_id>/direction")
@kiosk_required
def kiosk_direction(session_id: str):
    """Switch the running attempt between check-in and check-out."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise AppError(
            'Send a JSON object such as {"direction": "check_out"}.', "invalid_direction"
        )
    session = kiosk.set_direction(g.kiosk, session_id, str(body.get("direction", "")))
    return jsonify(session_view(session))


@bp.delete("/api/v1/kiosk/sessions/<session_id>")
@kiosk_required
def kiosk_session_end(session_id: str):
    """Close the session."""
    kiosk.end_session(g.kiosk, session_id)
    return "", 204


@bp.get("/api/v1/kiosk/config")
@kiosk_required
def kiosk_config():
    """What a kiosk client needs to know: its name, the frame rate and the hold and time limits."""
    return jsonify(
        kiosk=g.kiosk.name,
        frames_per_second=current_app.config["KIOSK_FPS"],
        hold_frames=current_app.config["KIOSK_HOLD_FRAMES"],
        hold_ms=current_app.config["KIOSK_HOLD_MS"],
        timeout_seconds=current_app.config["KIOSK_TIMEOUT_SECONDS"],
    )
