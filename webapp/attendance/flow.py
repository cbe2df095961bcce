"""The kiosk check-in state machine: pure logic over per-frame observations, no Flask, no DB.

A kiosk session's state is a JSON-able dict kept in the database between frames, so any worker
can take the next frame. One frame in, the new state and at most one action out.

Flow: a known face in consecutive frames -> a short random gesture challenge ending in O
(e.g. capture then O) -> the check-in is recorded. X at any time cancels. Liveness: a gesture only
counts in frames where the recognized face lies inside the head region of the body the pose
model sees, so a photo, a looped still or a phone held up never moves the challenge forward.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

IDLE = "idle"
CHALLENGE = "challenge"
DONE = "done"
CANCELLED = "cancelled"
UNKNOWN = "unknown"
FAILED = "failed"
FINAL_PHASES = (DONE, CANCELLED, UNKNOWN, FAILED)

# Sequences the kiosk may ask for; all end with O, the confirmation.
CHALLENGES = (("capture", "O"), ("O", "capture", "O"), ("capture", "standby", "O"))


@dataclass(frozen=True)
class FlowSettings:
    """Tunable counts and times of the flow."""

    identify_frames: int = 2  # same person in this many consecutive frames starts the challenge
    unknown_frames: int = 3  # a face unknown this many frames in a row gets "not recognized"
    # A gesture counts when held in consecutive live frames for `hold_seconds` (time, so a slow
    # client showing it in fewer frames is not punished) and in at least `hold_frames` frames.
    hold_frames: int = 2
    hold_seconds: float = 0.5
    absent_frames: int = 4  # no face this many frames ends the attempt
    spoof_frames: int = 6  # face outside the body's head this many frames in a row fails it
    timeout_seconds: float = 20.0  # no progress for this long ends the attempt
    result_seconds: float = 4.0  # how long a result stays on screen
    challenge: tuple[str, ...] | None = None  # fixed challenge (tests); None picks at random


# A face too poor to name gets one of these messages instead of a guess (see ml.quality).
QUALITY_MESSAGES = {"too_small": "come_closer", "turned": "face_camera", "blurred": "hold_still"}


@dataclass(frozen=True)
class Observation:
    """What the server saw in one frame (the largest face and the pose)."""

    at: float  # seconds (epoch)
    face_found: bool = False
    employee_id: int | None = None
    name: str | None = None
    similarity: float = 0.0
    gesture: str | None = None  # read from the pose; None when unclear or no pose
    live: bool = False  # the face lies inside the head region of the detected body
    quality: str = "ok"  # ml.quality verdict of the face: ok, too_small, turned, blurred


@dataclass
class Action:
    """Something the caller must do after this frame."""

    kind: str  # "take_proof" (keep this frame) or "record" (write the event)
    data: dict = field(default_factory=dict)


def new_state(now: float) -> dict:
    """A fresh, idle session state."""
    return {
        "phase": IDLE,
        "employee_id": None,
        "name": None,
        "similarity": 0.0,
        "streak": 0,
        "unknown_streak": 0,
        "absent": 0,
        "spoof": 0,
        "challenge": [],
        "step": 0,
        "hold": None,
        "hold_count": 0,
        "hold_since": None,
        "hold_counted": False,
        "attempt": 0,
        "direction": None,
        "updated_at": now,
        "progress_at": now,
        "result_at": None,
        "message": "step_up",
        "event_id": None,
        "gesture": None,
    }


def _reset(state: dict, now: float, message: str = "step_up") -> dict:
    fresh = new_state(now)
    fresh["attempt"] = state["attempt"]
    fresh["message"] = message
    return fresh


def _start_challenge(state: dict, obs: Observation, settings: FlowSettings, rng) -> None:
    state.update(
        phase=CHALLENGE,
        challenge=list(settings.challenge or rng.choice(CHALLENGES)),
        step=0,
        hold=None,
        hold_count=0,
        hold_since=None,
        hold_counted=False,
        spoof=0,
        absent=0,
        attempt=state["attempt"] + 1,
        direction=None,  # the caller fills it from the person's last event today
        progress_at=obs.at,
        message="do_gesture",
    )


def _finish(state: dict, phase: str, message: str, now: float) -> None:
    state.update(phase=phase, message=message, result_at=now)
    _drop_hold(state)


def _drop_hold(state: dict) -> None:
    state.update(hold=None, hold_count=0, hold_since=None, hold_counted=False)


def hold_progress(state: dict, settings: FlowSettings) -> dict | None:
    """How far the gesture now held is towards counting: frames and seconds, done and needed."""
    if state["phase"] != CHALLENGE or not state.get("hold") or state.get("hold_counted"):
        return None
    held = max(0.0, state["updated_at"] - (state.get("hold_since") or state["updated_at"]))
    return {
        "gesture": state["hold"],
        "frames": state["hold_count"],
        "need_frames": settings.hold_frames,
        "seconds": round(held, 2),
        "need_seconds": settings.hold_seconds,
    }


def seconds_left(state: dict, settings: FlowSettings) -> float | None:
    """Seconds until a challenge without progress times out (None outside a challenge)."""
    if state["phase"] != CHALLENGE:
        return None
    spent = state["updated_at"] - state["progress_at"]
    return round(max(0.0, settings.timeout_seconds - spent), 1)


def step(
    state: dict, obs: Observation, settings: FlowSettings, rng: random.Random | None = None
) -> tuple[dict, list[Action]]:
    """Advance the session by one frame; returns the new state and the actions to carry out."""
    rng = rng or random.Random()
    state = dict(state)
    state["updated_at"] = obs.at
    state["gesture"] = obs.gesture
    actions: list[Action] = []

    if state["phase"] in FINAL_PHASES:
        # Keep the result on screen for a moment; a new attempt needs the person to step away.
        gone = not obs.face_found
        if obs.at - (state["result_at"] or obs.at) >= settings.result_seconds or (
            gone and state["phase"] != DONE
        ):
            state = _reset(state, obs.at)
        else:
            return state, actions

    if not obs.face_found:
        state["absent"] += 1
        state["streak"] = state["unknown_streak"] = 0
        if state["phase"] == CHALLENGE and state["absent"] < settings.absent_frames:
            return state, actions
        if state["phase"] != IDLE or state["message"] != "step_up":
            state = _reset(state, obs.at)
        return state, actions
    state["absent"] = 0

    if state["phase"] == IDLE:
        if obs.quality in QUALITY_MESSAGES:
            # Too small, turned or blurred: ask for a better view; it is not "unknown" yet.
            state["streak"] = 0
            state["message"] = QUALITY_MESSAGES[obs.quality]
            return state, actions
        if obs.employee_id is None:
            state["streak"] = 0
            state["employee_id"] = None
            state["unknown_streak"] += 1
            state["message"] = "looking"
            if state["unknown_streak"] >= settings.unknown_frames:
                _finish(state, UNKNOWN, "not_recognized", obs.at)
            return state, actions
        state["unknown_streak"] = 0
        if obs.employee_id == state["employee_id"]:
            state["streak"] += 1
        else:
            state.update(employee_id=obs.employee_id, name=obs.name, streak=1)
        state["similarity"] = max(state["similarity"] if state["streak"] > 1 else 0, obs.similarity)
        state["message"] = "looking"
        if state["streak"] >= settings.identify_frames:
            _start_challenge(state, obs, settings, rng)
        return state, actions

    # CHALLENGE
    if obs.at - state["progress_at"] > settings.timeout_seconds:
        _finish(state, FAILED, "timed_out", obs.at)
        return state, actions
    if obs.employee_id is not None and obs.employee_id != state["employee_id"]:
        # Someone else stepped in: start over with them.
        state = _reset(state, obs.at, "looking")
        state.update(employee_id=obs.employee_id, name=obs.name, streak=1)
        state["similarity"] = obs.similarity
        return state, actions
    if obs.employee_id is None:
        _drop_hold(state)
        return state, actions

    if not obs.live:
        state["spoof"] += 1
        _drop_hold(state)
        if state["spoof"] >= settings.spoof_frames:
            _finish(state, FAILED, "liveness_failed", obs.at)
        return state, actions
    state["spoof"] = 0
    state["similarity"] = max(state["similarity"], obs.similarity)

    gesture = obs.gesture
    if gesture is None or gesture != state["hold"]:
        _drop_hold(state)
        if gesture:
            state.update(hold=gesture, hold_count=1, hold_since=obs.at)
    else:
        state["hold_count"] += 1
    since = state.get("hold_since")
    held = obs.at - (since if since is not None else obs.at)
    if (
        not gesture
        or state.get("hold_counted")
        or state["hold_count"] < settings.hold_frames
        or held < settings.hold_seconds - 1e-6
    ):
        return state, actions  # not held long enough yet (or already counted)
    state["hold_counted"] = True

    expected = state["challenge"][state["step"]]
    if gesture == "X":
        _finish(state, CANCELLED, "cancelled", obs.at)
        return state, actions
    if gesture != expected:
        state["message"] = "wrong_gesture" if gesture != "standby" else state["message"]
        return state, actions
    state["step"] += 1
    state["progress_at"] = obs.at
    state["message"] = "do_gesture"
    if gesture == "capture":
        actions.append(Action("take_proof"))
    if state["step"] == len(state["challenge"]):
        actions.append(
            Action(
                "record",
                {
                    "employee_id": state["employee_id"],
                    "direction": state["direction"],
                    "similarity": state["similarity"],
                    "gesture": gesture,
                    "attempt": state["attempt"],
                },
            )
        )
        _finish(state, DONE, "recorded", obs.at)
    return state, actions
