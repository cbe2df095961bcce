"""The kiosk check-in state machine, frame by frame (pure logic, no models)."""

from __future__ import annotations

import random

import pytest

from webapp.attendance import flow
from webapp.attendance.flow import FlowSettings, Observation

SETTINGS = FlowSettings(challenge=("capture", "O"), hold_frames=3, timeout_seconds=20)
ALICE = {"employee_id": 7, "name": "Alice", "similarity": 0.82}
BOB = {"employee_id": 9, "name": "Bob", "similarity": 0.77}


class Kiosk:
    """Feeds observations one frame apart and keeps the actions."""

    def __init__(self, settings=SETTINGS, start=1_000.0):
        self.settings = settings
        self.now = start
        self.state = flow.new_state(start)
        self.actions: list[flow.Action] = []

    def frame(self, person=None, gesture=None, live=True, face=True, dt=0.25, quality="ok"):
        self.now += dt
        obs = Observation(
            at=self.now,
            face_found=face or person is not None,
            gesture=gesture,
            live=live,
            quality=quality,
            **(person or {}),
        )
        self.state, actions = flow.step(self.state, obs, self.settings, random.Random(1))
        self.actions += actions
        return self.state

    def frames(self, n, **kwargs):
        for _ in range(n):
            self.frame(**kwargs)
        return self.state

    def kinds(self):
        return [a.kind for a in self.actions]


def identified(kiosk, person=ALICE):
    kiosk.frames(2, person=person, gesture="standby")
    assert kiosk.state["phase"] == flow.CHALLENGE
    return kiosk


def test_recognized_person_confirms_with_capture_then_o():
    kiosk = identified(Kiosk())
    assert kiosk.state["name"] == "Alice" and kiosk.state["challenge"] == ["capture", "O"]
    kiosk.frames(3, person=ALICE, gesture="capture")
    assert kiosk.kinds() == ["take_proof"] and kiosk.state["step"] == 1
    kiosk.frames(2, person=ALICE, gesture="O")
    assert kiosk.state["phase"] == flow.CHALLENGE  # not held long enough yet
    kiosk.frame(person=ALICE, gesture="O")
    assert kiosk.state["phase"] == flow.DONE
    record = kiosk.actions[-1]
    assert record.kind == "record"
    assert record.data["employee_id"] == 7 and record.data["gesture"] == "O"
    assert record.data["similarity"] == pytest.approx(0.82)


def test_a_gesture_counts_once_however_long_it_is_held():
    kiosk = identified(Kiosk(FlowSettings(challenge=("O", "capture", "O"))))
    kiosk.frames(10, person=ALICE, gesture="O")
    assert kiosk.state["step"] == 1 and kiosk.state["phase"] == flow.CHALLENGE
    kiosk.frames(3, person=ALICE, gesture="capture")
    kiosk.frames(3, person=ALICE, gesture="O")
    assert kiosk.state["phase"] == flow.DONE


def test_a_slow_client_needs_only_two_frames_across_the_hold_time():
    """One frame a second (a weak kiosk PC): two frames of a gesture already span 1 s."""
    kiosk = identified(Kiosk(FlowSettings(challenge=("capture", "O"), hold_seconds=0.5)))
    kiosk.frame(person=ALICE, gesture="capture", dt=1.0)
    assert kiosk.state["step"] == 0
    kiosk.frame(person=ALICE, gesture="capture", dt=1.0)
    assert kiosk.state["step"] == 1 and kiosk.kinds() == ["take_proof"]


def test_a_fast_client_must_hold_for_the_hold_time_not_just_two_frames():
    """Ten frames a second: two or three frames are not enough, half a second is."""
    kiosk = identified(Kiosk(FlowSettings(challenge=("capture", "O"), hold_seconds=0.5)))
    kiosk.frames(5, person=ALICE, gesture="capture", dt=0.1)  # 0.4 s since the first
    assert kiosk.state["step"] == 0
    progress = flow.hold_progress(kiosk.state, kiosk.settings)
    assert progress["gesture"] == "capture" and progress["frames"] == 5
    assert progress["seconds"] == pytest.approx(0.4) and progress["need_seconds"] == 0.5
    kiosk.frame(person=ALICE, gesture="capture", dt=0.1)
    assert kiosk.state["step"] == 1
    assert flow.hold_progress(kiosk.state, kiosk.settings) is None  # counted: nothing to show


def test_the_countdown_restarts_with_each_step():
    kiosk = identified(Kiosk())
    assert flow.seconds_left(kiosk.state, SETTINGS) == pytest.approx(20.0)
    kiosk.frame(person=ALICE, gesture="standby", dt=5)
    assert flow.seconds_left(kiosk.state, SETTINGS) == pytest.approx(15.0)
    kiosk.frames(3, person=ALICE, gesture="capture")
    assert flow.seconds_left(kiosk.state, SETTINGS) == pytest.approx(20.0)


def test_x_cancels_and_nothing_is_recorded():
    kiosk = identified(Kiosk())
    kiosk.frames(3, person=ALICE, gesture="capture")
    kiosk.frames(3, person=ALICE, gesture="X")
    assert kiosk.state["phase"] == flow.CANCELLED and kiosk.state["message"] == "cancelled"
    assert "record" not in kiosk.kinds()


def test_o_before_capture_does_not_confirm():
    kiosk = identified(Kiosk())
    kiosk.frames(5, person=ALICE, gesture="O")
    assert kiosk.state["step"] == 0 and kiosk.state["message"] == "wrong_gesture"
    assert "record" not in kiosk.kinds()


def test_an_unsteady_gesture_does_not_count():
    kiosk = identified(Kiosk())
    for gesture in ["capture", "capture", None, "capture", "capture", "standby"]:
        kiosk.frame(person=ALICE, gesture=gesture)
    assert kiosk.state["step"] == 0


def test_no_progress_times_out():
    kiosk = identified(Kiosk())
    kiosk.frames(3, person=ALICE, gesture="capture")
    kiosk.frame(person=ALICE, gesture="standby", dt=21)
    assert kiosk.state["phase"] == flow.FAILED and kiosk.state["message"] == "timed_out"
    assert "record" not in kiosk.kinds()


def test_someone_else_stepping_in_restarts_with_them():
    kiosk = identified(Kiosk())
    kiosk.frames(3, person=ALICE, gesture="capture")
    kiosk.frame(person=BOB, gesture="O")
    assert kiosk.state["phase"] == flow.IDLE and kiosk.state["employee_id"] == 9
    kiosk.frame(person=BOB, gesture="standby")
    assert kiosk.state["phase"] == flow.CHALLENGE and kiosk.state["name"] == "Bob"
    assert kiosk.state["step"] == 0  # Alice's capture does not carry over
    kiosk.frames(3, person=BOB, gesture="O")
    assert "record" not in kiosk.kinds()


def test_a_still_image_never_checks_in():
    """A photo: the face is recognized but there is no body whose head holds it (not live)."""
    kiosk = identified(Kiosk())
    for gesture in ["capture"] * 3 + ["O"] * 3:
        kiosk.frame(person=ALICE, gesture=gesture, live=False)
    assert kiosk.state["phase"] == flow.FAILED and kiosk.state["message"] == "liveness_failed"
    assert kiosk.kinds() == []


def test_gestures_beside_a_held_up_face_do_not_count():
    """Someone gestures while the recognized face is elsewhere (a phone): no live frames."""
    kiosk = identified(Kiosk(FlowSettings(challenge=("capture", "O"), spoof_frames=100)))
    for _ in range(5):
        kiosk.frames(3, person=ALICE, gesture="capture", live=False)
        kiosk.frames(3, person=ALICE, gesture="O", live=False)
    assert kiosk.state["step"] == 0 and kiosk.kinds() == []


def test_a_live_frame_between_spoofed_ones_does_not_complete_a_hold():
    kiosk = identified(Kiosk())
    for live in [True, False, True, False, True]:
        kiosk.frame(person=ALICE, gesture="capture", live=live)
    assert kiosk.state["step"] == 0


def test_an_unknown_face_is_told_politely_and_nothing_happens():
    kiosk = Kiosk()
    kiosk.frames(3, face=True, gesture="O")
    assert kiosk.state["phase"] == flow.UNKNOWN and kiosk.state["message"] == "not_recognized"
    kiosk.frames(3, face=True, gesture="O")
    assert kiosk.kinds() == []


@pytest.mark.parametrize(
    ("quality", "message"),
    [("too_small", "come_closer"), ("turned", "face_camera"), ("blurred", "hold_still")],
)
def test_a_poor_face_is_asked_for_a_better_view_not_turned_away(quality, message):
    kiosk = Kiosk()
    kiosk.frames(5, face=True, quality=quality)
    assert kiosk.state["phase"] == flow.IDLE and kiosk.state["message"] == message
    assert kiosk.state["unknown_streak"] == 0
    kiosk.frames(2, person=ALICE, gesture="standby")  # stepped closer: identified as usual
    assert kiosk.state["phase"] == flow.CHALLENGE and kiosk.state["name"] == "Alice"


def test_the_kiosk_says_come_closer_in_korean(tmp_path):
    from tests.support import make_config
    from webapp import create_app
    from webapp.attendance.kiosk_messages import describe

    app = create_app(make_config(tmp_path, LOAD_MODELS=False))
    with app.test_request_context(headers={"Accept-Language": "ko"}):
        assert describe({"message": "come_closer"}) == "카메라에 더 가까이 오세요."
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert describe({"message": "face_camera"}) == "Please face the camera."


def test_walking_away_ends_the_attempt():
    kiosk = identified(Kiosk())
    kiosk.frames(3, person=ALICE, gesture="capture")
    kiosk.frames(2, face=False)
    assert kiosk.state["phase"] == flow.CHALLENGE  # a short miss is tolerated
    kiosk.frames(2, face=False)
    assert kiosk.state["phase"] == flow.IDLE and kiosk.state["message"] == "step_up"


def test_the_result_stays_then_the_kiosk_is_ready_again():
    kiosk = identified(Kiosk())
    kiosk.frames(3, person=ALICE, gesture="capture")
    kiosk.frames(3, person=ALICE, gesture="O")
    assert kiosk.state["phase"] == flow.DONE
    kiosk.frames(3, person=ALICE, gesture="O")
    assert kiosk.state["phase"] == flow.DONE and kiosk.kinds().count("record") == 1
    kiosk.frame(person=ALICE, gesture="standby", dt=5)
    assert kiosk.state["phase"] in (flow.IDLE, flow.CHALLENGE)
    assert kiosk.state["attempt"] >= 1


def test_random_challenges_all_end_with_o_and_vary():
    seen = set()
    for seed in range(40):
        state = flow.new_state(0.0)
        settings = FlowSettings()
        for t in (1.0, 2.0):
            obs = Observation(at=t, face_found=True, gesture="standby", live=True, **ALICE)
            state, _ = flow.step(state, obs, settings, random.Random(seed))
        assert state["challenge"][-1] == "O"
        seen.add(tuple(state["challenge"]))
    assert len(seen) > 1


def test_state_is_plain_json():
    import json

    kiosk = identified(Kiosk())
    kiosk.frames(3, person=ALICE, gesture="capture")
    assert json.loads(json.dumps(kiosk.state)) == kiosk.state
