"""Kiosk check-in service: one frame in, recognition + pose + the flow, state kept in the DB."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from flask import current_app
from sqlalchemy import case, select, update

from ml.gestures import GestureModel, classify_rules
from ml.images import decode_image, encode_jpeg
from webapp import media
from webapp.attendance import flow
from webapp.attendance.events import next_direction, record_event
from webapp.attendance.kiosk_models import GestureModelVersion, KioskSession
from webapp.attendance.models import AttendanceEvent, EventKind, Kiosk
from webapp.attendance.records import site_timezone
from webapp.db import utcnow
from webapp.errors import AppError, NotFound
from webapp.extensions import db
from webapp.recognition.services import recognize
from webapp.recognition.timing import stage
from webapp.registry import current_models

# A face counts as "inside the head" when this share of its box lies in the pose's head region.
LIVE_OVERLAP = 0.6
# The face box of a real head is about as wide as the pose's ear-to-ear distance: 0.98-1.47 on the
# 24 celebrity photos where both ears are visible, 1.06-1.24 on the rendered kiosk stills. A face
# on a phone held in front of the head is much narrower than that head (0.69-0.88 measured).
MIN_FACE_TO_EARS = 0.9


@dataclass(frozen=True)
class FrameResult:
    """What one frame produced, for the API answer."""

    session: KioskSession
    face_box: list[int] | None
    head_box: list[int] | None
    gesture: str | None
    event: AttendanceEvent | None
    stale: bool = False
    pose: list[list[float]] | None = None  # 33 x (x, y as a share of the frame, visibility)


def pose_points(pose, width: int, height: int) -> list[list[float]] | None:
    """The pose's landmarks as (x, y in 0-1 of the frame, visibility), for drawing on the page."""
    if pose is None or width <= 0 or height <= 0:
        return None
    return [
        [round(float(x) / width, 4), round(float(y) / height, 4), round(float(v), 2)]
        for x, y, _z, v in pose.landmarks
    ]


def flow_settings() -> flow.FlowSettings:
    """The flow's settings from the app config."""
    config = current_app.config
    fixed = config.get("KIOSK_CHALLENGE")
    return flow.FlowSettings(
        hold_frames=config["KIOSK_HOLD_FRAMES"],
        hold_seconds=config["KIOSK_HOLD_MS"] / 1000,
        timeout_seconds=config["KIOSK_TIMEOUT_SECONDS"],
        result_seconds=config["KIOSK_RESULT_SECONDS"],
        challenge=tuple(s.strip() for s in fixed.split(",")) if fixed else None,
    )


def start_session(kiosk: Kiosk) -> KioskSession:
    """Open a new check-in session on a kiosk screen."""
    session = KioskSession(
        id=uuid.uuid4().hex, kiosk_id=kiosk.id, state=flow.new_state(utcnow().timestamp())
    )
    db.session.add(session)
    db.session.commit()
    return session


def get_session(kiosk: Kiosk, session_id: str) -> KioskSession:
    """Return this kiosk's open session, or 404."""
    session = db.session.get(KioskSession, session_id)
    if session is None or session.kiosk_id != kiosk.id or session.ended_at is not None:
        raise NotFound("No such kiosk session; start a new one.", "session_not_found")
    return session


def end_session(kiosk: Kiosk, session_id: str) -> None:
    """Close a session (the kiosk page was closed or restarted)."""
    session = get_session(kiosk, session_id)
    session.ended_at = utcnow()
    db.session.commit()


def overlap(face: tuple[int, int, int, int], head: tuple[int, int, int, int]) -> float:
    """Share of the face box's area that lies inside the head box."""
    fx, fy, fw, fh = face
    hx, hy, hw, hh = head
    ix = max(0, min(fx + fw, hx + hw) - max(fx, hx))
    iy = max(0, min(fy + fh, hy + hh) - max(fy, hy))
    return (ix * iy) / max(1, fw * fh)


def is_live(face_box, pose) -> bool:
    """True when the face sits in the head of the body the pose model sees, at that head's size."""
    if face_box is None or pose is None:
        return False
    if overlap(face_box, pose.head_box()) < LIVE_OVERLAP:
        return False
    if pose.visible("left_ear") and pose.visible("right_ear"):
        (lx, ly), (rx, ry) = pose.point("left_ear"), pose.point("right_ear")
        ears = max(1.0, ((lx - rx) ** 2 + (ly - ry) ** 2) ** 0.5)
        if face_box[2] / ears < MIN_FACE_TO_EARS:
            return False
    return True


def read_gesture(kiosk: Kiosk, pose) -> str | None:
    """The gesture in a pose: the kiosk's taught model if it has one, else the built-in rules."""
    if pose is None:
        return None
    if kiosk.gesture_model_id is not None:
        model = _gesture_model(kiosk.gesture_model_id)
        if model is not None:
            from ml.gestures import pose_features

            gesture, _ = model.predict(pose_features(pose.landmarks)[None, :])[0]
            return gesture
    return classify_rules(pose.landmarks).gesture


def _gesture_model(version_id: int) -> GestureModel | None:
    cache = current_app.extensions.setdefault("gesture_models", {})
    if version_id not in cache:
        version = db.session.get(GestureModelVersion, version_id)
        cache[version_id] = GestureModel.from_bytes(version.payload) if version else None
    return cache[version_id]


def set_direction(kiosk: Kiosk, session_id: str, direction: str) -> KioskSession:
    """Switch the running attempt between check-in and check-out (the on-screen toggle)."""
    try:
        kind = EventKind(direction)
    except ValueError as exc:
        raise AppError("direction must be check_in or check_out.", "bad_direction") from exc
    session = get_session(kiosk, session_id)
    state = dict(session.state)
    if state["phase"] != flow.CHALLENGE:
        raise AppError("Nobody is checking in right now.", "no_attempt", 409)
    state["direction"] = kind.value
    session.state = state
    db.session.commit()
    return session


def process_frame(
    kiosk: Kiosk,
    session_id: str,
    data: bytes,
    now: datetime | None = None,
    frame_key: str | None = None,
) -> FrameResult:
    """Run one camera frame through recognition, pose and the flow; record the event at the end.

    A frame re-sent with the same `frame_key` (a client retry) is not processed twice.
    """
    session = get_session(kiosk, session_id)
    version, state = session.version, session.state
    if frame_key and state.get("frame_key") == frame_key:
        return FrameResult(session, None, None, state.get("gesture"), None, stale=True)
    db.session.rollback()  # no transaction stays open while the models run
    now = now or datetime.now(UTC)
    with stage("decode"):
        rgb = decode_image(data, current_app.config["MAX_IMAGE_PIXELS"])

    faces, _ = recognize(rgb, "kiosk")
    with stage("pose"):
        pose = current_models().get("pose").estimate(rgb)
    gesture = read_gesture(kiosk, pose)
    face = faces[0] if faces else None
    head = pose.head_box() if pose is not None else None
    live = is_live(face.box if face else None, pose)
    observation = flow.Observation(
        at=now.timestamp(),
        face_found=face is not None,
        employee_id=face.employee_id if face else None,
        name=face.name if face else None,
        similarity=face.similarity if face else 0.0,
        gesture=gesture,
        live=live,
        quality=face.quality if face else "ok",
    )
    new_state, actions = flow.step(state, observation, flow_settings(), random.Random())
    new_state["frame_key"] = frame_key
    if new_state["phase"] == flow.CHALLENGE and new_state["direction"] is None:
        new_state["direction"] = next_direction(new_state["employee_id"], now).value

    proof = None
    event = None
    for action in actions:
        if action.kind == "take_proof":
            proof = media.save(f"proofs/{now:%Y/%m}", encode_jpeg(rgb, 85), ".jpg")
    result = db.session.execute(
        update(KioskSession)
        .where(KioskSession.id == session.id, KioskSession.version == version)
        .values(
            state=new_state,
            version=version + 1,
            updated_at=now,
            **({"proof_photo": proof} if proof else {}),
        )
    )
    if result.rowcount == 0:
        # Another worker took a newer frame of this session first: drop this one.
        db.session.rollback()
        if proof:
            media.remove(proof)
        session = db.session.get(KioskSession, session_id)
        return FrameResult(session, None, None, gesture, None, stale=True)
    count_frame(kiosk.id, now)
    db.session.commit()
    session = db.session.get(KioskSession, session_id)

    for action in actions:
        if action.kind == "record":
            event = _record(kiosk, session, action.data, rgb, now)
    return FrameResult(
        session,
        list(face.box) if face else None,
        list(head) if head else None,
        gesture,
        event,
        pose=pose_points(pose, rgb.shape[1], rgb.shape[0]),
    )


def count_frame(kiosk_id: int, now: datetime) -> None:
    """Add one to the kiosk's frames of the site's day (one UPDATE: safe across workers)."""
    today = now.astimezone(site_timezone()).date()
    db.session.execute(
        update(Kiosk)
        .where(Kiosk.id == kiosk_id)
        .values(
            frames_today=case((Kiosk.frames_day == today, Kiosk.frames_today + 1), else_=1),
            frames_day=today,
        )
    )


def _record(kiosk: Kiosk, session: KioskSession, data: dict, rgb: np.ndarray, now: datetime):
    proof = session.proof_photo or media.save(f"proofs/{now:%Y/%m}", encode_jpeg(rgb, 85), ".jpg")
    event, _ = record_event(
        data["employee_id"],
        EventKind(data["direction"]),
        now,
        kiosk_id=kiosk.id,
        similarity=data["similarity"],
        gesture=data["gesture"],
        proof_photo=proof,
        idempotency_key=f"kiosk-session:{session.id}:{data['attempt']}",
    )
    state = dict(session.state)
    state["event_id"] = event.id
    state["direction"] = event.kind.value
    session.state = state
    session.proof_photo = None
    db.session.commit()
    return event


def latest_session(kiosk: Kiosk) -> KioskSession | None:
    """The kiosk's most recent open session."""
    return db.session.scalar(
        select(KioskSession)
        .where(KioskSession.kiosk_id == kiosk.id, KioskSession.ended_at.is_(None))
        .order_by(KioskSession.created_at.desc())
        .limit(1)
    )
