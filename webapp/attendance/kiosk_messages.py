"""What the kiosk screen says, in the reader's language."""

from __future__ import annotations

from flask_babel import format_time
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

GESTURE_HINTS = {
    "O": _l("make an O over your head"),
    "X": _l("cross your arms"),
    "capture": _l("raise both arms"),
    "standby": _l("lower your arms"),
}


def describe(state: dict, event=None) -> str:
    """The sentence for the screen, from the flow's message code and state."""
    code = state["message"]
    name = state.get("name") or ""
    if code == "do_gesture":
        gesture = state["challenge"][state["step"]]
        hint = GESTURE_HINTS[gesture]
        action = _("check in") if state.get("direction") != "check_out" else _("check out")
        if state["step"] == 0:
            return _(
                "%(name)s, %(hint)s to %(action)s. Cross your arms (X) if this is not you.",
                name=name,
                hint=hint,
                action=action,
            )
        return _("Good. Now %(hint)s.", hint=hint)
    if code == "recorded" and event is not None:
        when = format_time(event.occurred_at, "short")
        if event.kind.value == "check_out":
            return _("%(name)s, checked out at %(time)s. See you!", name=name, time=when)
        return _("%(name)s, checked in at %(time)s. Welcome!", name=name, time=when)
    texts = {
        "step_up": _("Please step up to the camera."),
        "looking": _("Hold still, looking…"),
        "come_closer": _("Please come closer to the camera."),
        "face_camera": _("Please face the camera."),
        "hold_still": _("Please hold still; the picture is blurred."),
        "not_recognized": _("Sorry, you are not recognized. Please see an administrator."),
        "cancelled": _("Cancelled. Nothing was recorded."),
        "timed_out": _("Time is up. Please try again."),
        "liveness_failed": _(
            "Could not confirm a live person. Photos and screens cannot check in."
        ),
        "wrong_gesture": _("Not that one: please follow the instruction."),
        "recorded": _("Recorded."),
    }
    return texts.get(code, code)
