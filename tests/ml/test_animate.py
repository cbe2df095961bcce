"""Animate a photo: motion from landmarks, the dense warp, living portraits, reenactment, talking.

Real photos (the 5-celebrity set), the real detector, face mesh and FaceNet; the driving video
is one of the photos turned and talking, rendered by the warp into a 640x360 video with sound,
and followed by a photo of someone else.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.animate.animator import Animator, DrivingFaceError
from ml.animate.encode import write_video
from ml.animate.motions import MotionError, motion_track
from ml.animate.rig import (
    Expression,
    FaceRig,
    Pose,
    face_frame,
    place,
    relative_motion,
)
from ml.animate.speech import SpeechError, Synthesizer, viseme
from ml.animate.warp import Warper
from ml.errors import NoFaceError
from ml.face_mesh import NUM_MESH_POINTS, FaceMesher, mouth_opening
from ml.images import decode_image
from ml.video import iter_frames, probe

SOURCE = ("train", "jerry_seinfeld", 9)
OTHER = ("train", "mindy_kaling", 0)


def photo(dataset: Path, split: str, person: str, index: int, side: int = 512) -> np.ndarray:
    rgb = decode_image(sorted((dataset / split / person).glob("*.jpg"))[index].read_bytes())
    scale = side / max(rgb.shape[:2])
    rgb = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)))
    return rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2].copy()


@pytest.fixture(scope="module")
def analyzer(loaded_models):
    return loaded_models.get("faces")


@pytest.fixture(scope="module")
def animator(analyzer) -> Animator:
    return Animator(analyzer.detectors["photo"], FaceMesher())


@pytest.fixture(scope="module")
def source(dataset) -> np.ndarray:
    return photo(dataset, *SOURCE)


@pytest.fixture(scope="module")
def prepared(animator, source):
    return animator.prepare(source)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def embedding(analyzer, rgb: np.ndarray) -> np.ndarray:
    faces = analyzer.analyze(rgb)
    assert faces, "no face found"
    return faces[0].embedding


def mesh_of(animator: Animator, rgb: np.ndarray, near: np.ndarray) -> np.ndarray | None:
    """The face mesh of a frame, cropped around where the face is expected."""
    pts = near[:NUM_MESH_POINTS, :2]
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    return animator.mesher.landmarks(rgb, (x0, y0, x1 - x0, y1 - y0))


def detected_mesh(animator: Animator, rgb: np.ndarray) -> np.ndarray:
    """The face mesh of the largest detected face."""
    faces = animator.detector.detect(rgb)
    assert faces
    found = animator.mesher.landmarks(rgb, faces[0].box)
    assert found is not None
    return found


def background_mask(prepared, shape) -> np.ndarray:
    """Pixels well away from the head and neck: outside 1.5 face widths/heights of its centre."""
    frame = prepared.frame
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    dx, dy = xs - frame.centre[0], ys - frame.centre[1]
    r = np.hypot(dx / (1.5 * frame.width), dy / (1.5 * frame.height))
    return r > 1.0


# -- motion from landmarks (real mesh, no video) -------------------------------------------------


def test_relative_motion_separates_head_pose_from_expression(prepared):
    lm = prepared.landmarks
    frame = face_frame(lm)
    rig = FaceRig(lm)
    expression = rig.displacement(Expression(jaw=0.6, smile=0.5))
    pose = Pose(yaw=9.0, pitch=-6.0, roll=7.0, scale=1.04, shift=(0.05, -0.03))
    moved = place(lm, frame, pose, frame.to_pixels(expression))
    # The reference is the face at rest in the same (flattened) depth as `place` uses.
    reference = place(lm, frame, Pose())
    found_pose, found_expression = relative_motion(reference, moved)
    assert abs(found_pose.yaw - 9.0) < 1.0
    assert abs(found_pose.pitch + 6.0) < 1.0
    assert abs(found_pose.roll - 7.0) < 1.0
    assert abs(found_pose.scale - 1.04) < 0.01
    assert np.allclose(found_pose.shift, (0.05, -0.03), atol=0.01)
    # The expression comes back in face units, pose removed (the rigid points hardly moved).
    err = np.abs(found_expression - expression).max()
    assert err < 0.02, err
    assert np.abs(found_expression[FaceRig(lm).jaw_weight > 0.9, 1]).min() > 0.05


def test_pose_is_limited_to_what_a_warp_can_show():
    wild = Pose(yaw=70, pitch=-50, roll=90, scale=2.0, shift=(1.0, -1.0)).clamped()
    assert abs(wild.yaw) <= 16 and abs(wild.pitch) <= 12 and abs(wild.roll) <= 18
    assert wild.scale <= 1.08 and max(abs(s) for s in wild.shift) <= 0.12


# -- the dense warp ------------------------------------------------------------------------------


def test_warp_moves_the_face_and_leaves_the_background(prepared, source):
    lm, frame = prepared.landmarks, prepared.frame
    warper: Warper = prepared.warper
    assert np.array_equal(warper.render(lm), prepared.image)  # at rest: the photo itself
    target = place(lm, frame, Pose(yaw=12, pitch=5, roll=6), frame.to_pixels(
        prepared.rig.displacement(Expression(jaw=0.7, smile=0.4))
    ))  # fmt: skip
    out = warper.render(target)
    field = warper.field(target)
    away = background_mask(prepared, out.shape)
    assert np.abs(field[away]).max() < 1.0  # background and body: no motion
    assert np.array_equal(out[away], prepared.image[away])
    # The spline interpolates: each moved control point maps back onto its place in the photo.
    controls = warper.controls
    xy = np.round(target[controls, :2]).astype(int)
    ok = (xy[:, 0] >= 0) & (xy[:, 0] < out.shape[1]) & (xy[:, 1] >= 0) & (xy[:, 1] < out.shape[0])
    back = xy[ok] + field[xy[ok, 1], xy[ok, 0]]
    expected = lm[controls[ok], :2] + (xy[ok] - target[controls[ok], :2])
    assert np.median(np.linalg.norm(back - expected, axis=1)) < 1.0
    # The opened mouth is painted dark, not stretched lips.
    mesher_lm = mesh_of_photo(prepared, out)
    assert mesher_lm is not None
    assert mouth_opening(mesher_lm) > mouth_opening(lm) + 0.1


@pytest.mark.parametrize(
    "pose",
    [Pose(yaw=60), Pose(yaw=-60), Pose(pitch=40), Pose(pitch=-40), Pose(yaw=40, pitch=30, roll=60)],
)
def test_a_turn_beyond_what_a_warp_can_show_is_limited_not_torn(prepared, pose):
    """Wherever the warp is not inside the lips, it never folds (its Jacobian stays positive)."""
    from ml.animate.animator import keep_lips_apart
    from ml.animate.warp import OUTER_LIPS
    from ml.face_mesh import polygon_mask

    lm, frame, warper = prepared.landmarks, prepared.frame, prepared.warper
    for expression in (
        Expression(),
        Expression(jaw=1.0, smile=1.0),
        Expression(jaw=1.0, round=1.0),
        Expression(press=1.0, smile=0.3),
    ):
        moved = place(
            lm, frame, pose.clamped(), frame.to_pixels(prepared.rig.displacement(expression))
        )
        target = keep_lips_apart(lm, moved)
        field = warper.field(target)
        bx = np.arange(field.shape[1])[None, :] + field[..., 0]
        by = np.arange(field.shape[0])[:, None] + field[..., 1]
        jacobian = np.gradient(bx, axis=1) * np.gradient(by, axis=0) - np.gradient(
            bx, axis=0
        ) * np.gradient(by, axis=1)
        lips = cv2.dilate(
            polygon_mask(jacobian.shape, target, OUTER_LIPS), np.ones((9, 9), np.uint8)
        )
        folded = (jacobian <= 0) & (lips == 0)
        # A few pixels at the lips' edge may fold at the most extreme settings (measured: 0-3).
        assert folded.sum() <= 10, (pose, expression, int(folded.sum()))


def mesh_of_photo(prepared, rgb):
    return FaceMesher().landmarks(rgb, _box(prepared.landmarks))


def _box(lm):
    pts = lm[:NUM_MESH_POINTS, :2]
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    return (x0, y0, x1 - x0, y1 - y0)


def test_blink_closes_the_eyes(prepared):
    warper: Warper = prepared.warper
    lm = prepared.landmarks
    open_eyes = warper.render(lm)
    shut = warper.render(lm, blinks=(1.0, 1.0))
    from ml.animate.rig import eye_openness

    before = eye_openness(mesh_of_photo(prepared, open_eyes))
    after = eye_openness(mesh_of_photo(prepared, shut))
    assert (after < 0.5 * before).all(), (before, after)


# -- living portrait -----------------------------------------------------------------------------


def test_motions_are_natural_randomized_and_rest_at_the_ends():
    a = motion_track("look_around", 4.0, 25, seed=1)
    b = motion_track("look_around", 4.0, 25, seed=2)
    assert len(a) == 100
    yaws_a = np.array([p.yaw for p, _ in a])
    yaws_b = np.array([p.yaw for p, _ in b])
    assert np.abs(yaws_a).max() > 8 and not np.allclose(yaws_a, yaws_b)
    assert abs(yaws_a[0]) < 0.5 and abs(yaws_a[-1]) < 1.0
    assert np.abs(np.diff(yaws_a)).max() < 2.0  # no jumps at 25 fps
    assert any(e.blink_left > 0.9 for _, e in motion_track("blink", 3.0, 25, seed=3))
    with pytest.raises(MotionError):
        motion_track("moonwalk", 3.0, 25)
    with pytest.raises(MotionError):
        motion_track("nod", 999.0, 25)


def test_living_portrait_video(animator, analyzer, source, tmp_path):
    result = animator.living_portrait(source, tmp_path / "p.mp4", "portrait", 2.0, 25, seed=7)
    info = probe(result.path)
    assert info.frames == 50 and abs(info.duration - 2.0) < 0.05 and not info.has_audio
    frames = list(iter_frames(result.path))
    prepared = animator.prepare(source)
    away = background_mask(prepared, frames[0].shape)
    first = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY)
    moved = []
    for frame in frames[10::10]:
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        flow = cv2.calcOpticalFlowFarneback(first, grey, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        assert np.abs(flow[away]).mean() < 1.0
        moved.append(np.abs(flow[~away]).max())
    assert max(moved) > 3.0  # while the head moves
    source_embedding = embedding(analyzer, prepared.image)
    for frame in frames[::12]:
        assert cosine(embedding(analyzer, frame), source_embedding) >= 0.7
    again = animator.living_portrait(source, tmp_path / "q.mp4", "portrait", 2.0, 25, seed=8)
    assert not np.allclose(result.targets[25][0], again.targets[25][0])


# -- reenactment ---------------------------------------------------------------------------------


def driving_video(animator: Animator, face: np.ndarray, path: Path, fps: int = 15) -> Path:
    """The face turning, nodding, talking and blinking, 2 s in a 640x360 frame, with sound."""
    canvas = np.full((360, 640, 3), 90, dtype=np.uint8)
    patch = cv2.resize(face, (round(face.shape[1] * 340 / face.shape[0]), 340))
    x = (640 - patch.shape[1]) // 2
    canvas[10:350, x : x + patch.shape[1]] = patch
    prepared = animator.prepare(canvas)
    frame = prepared.frame
    frames = []
    count = 2 * fps
    for i in range(count):
        phase = i / (count - 1)
        pose = Pose(yaw=10 * np.sin(2 * np.pi * phase), pitch=6 * np.sin(4 * np.pi * phase))
        jaw = max(0.0, np.sin(3 * np.pi * phase)) * 0.8
        expression = prepared.rig.displacement(Expression(jaw=jaw))
        target = place(prepared.landmarks, frame, pose, frame.to_pixels(expression))
        blink = 1.0 if abs(phase - 0.5) < 0.04 else 0.0
        frames.append(prepared.warper.render(target, (blink, blink)))
    t = np.arange(round(44_100 * count / fps)) / 44_100
    tone = (8000 * np.sin(2 * np.pi * 330 * t)).astype(np.int16)
    write_video(path, frames, fps, tone, 44_100)
    return path


def test_reenactment_follows_the_driving_face(animator, analyzer, dataset, source, tmp_path):
    driving = driving_video(animator, photo(dataset, *OTHER), tmp_path / "drive.mp4")
    driving_info = probe(driving)
    result = animator.reenact(source, driving, tmp_path / "out.mp4")
    info = probe(result.path)
    assert info.frames == driving_info.frames
    assert abs(info.duration - driving_info.duration) < 1.5 / driving_info.fps
    assert info.has_audio
    frames = list(iter_frames(result.path))
    driving_frames = list(iter_frames(driving))
    width = animator.prepare(source).frame.width
    errors, out_mouth, drive_mouth, out_yaw, drive_yaw = [], [], [], [], []
    rest = result.targets[0][0]
    driving_rest = None
    for k, (frame, (target, _)) in enumerate(zip(frames, result.targets, strict=True)):
        found = mesh_of(animator, frame, target)
        assert found is not None, f"no face in animated frame {k}"
        # Eyelids are left out of the error: a blink moves them by the warp, not the targets.
        lids = _lid_points()
        keep = np.setdiff1d(np.arange(NUM_MESH_POINTS), lids)
        errors.append(np.linalg.norm(found[keep, :2] - target[keep, :2], axis=1).mean() / width)
        drv = detected_mesh(animator, driving_frames[k])
        driving_rest = drv if driving_rest is None else driving_rest
        out_mouth.append(mouth_opening(found))
        drive_mouth.append(mouth_opening(drv))
        out_yaw.append(relative_motion(rest, found)[0].yaw)
        drive_yaw.append(relative_motion(driving_rest, drv)[0].yaw)
    errors = np.array(errors)
    assert errors.max() < 0.05 and errors.mean() < 0.03, errors.round(3)
    assert np.corrcoef(out_mouth, drive_mouth)[0, 1] > 0.8
    assert np.corrcoef(out_yaw, drive_yaw)[0, 1] > 0.8
    assert max(out_mouth) > mouth_opening(rest) + 0.15
    source_embedding = embedding(analyzer, animator.prepare(source).image)
    for frame in frames[::6]:
        assert cosine(embedding(analyzer, frame), source_embedding) >= 0.7


def _lid_points() -> np.ndarray:
    from ml.animate.rig import LID_CREASES, LOWER_LIDS, UPPER_LIDS

    return np.array(sorted({p for group in UPPER_LIDS + LOWER_LIDS + LID_CREASES for p in group}))


def test_reenactment_refuses_a_driving_video_without_a_face(animator, source, tmp_path):
    blank = [np.full((360, 640, 3), 120, dtype=np.uint8) for _ in range(10)]
    path = tmp_path / "blank.mp4"
    write_video(path, blank, 10)
    with pytest.raises(DrivingFaceError):
        animator.reenact(source, path, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


def test_a_photo_without_a_face_is_refused(animator, tmp_path):
    with pytest.raises(NoFaceError):
        animator.living_portrait(np.full((300, 300, 3), 200, np.uint8), tmp_path / "x.mp4")


# -- talking photo -------------------------------------------------------------------------------


def test_visemes_shape_the_mouth():
    assert viseme("p") == viseme("b") == viseme("m") == "closed"
    assert viseme("a") == viseme("aI") == "open"
    assert viseme("u:") == viseme("w") == "round"
    assert viseme("_:") == "rest"


@pytest.mark.parametrize(
    ("text", "language"),
    [("Hello, my name is Jerry. Nice to meet you.", "en"), ("안녕하세요. 반갑습니다.", "ko")],
)
def test_talking_photo_speaks_with_subtitles(animator, source, tmp_path, text, language):
    result = animator.talk(source, text, tmp_path / "talk.mp4", burn_subtitles=True, seed=1)
    speech = animator.synthesizer().speak(text)
    assert speech.language == language
    info = probe(result.path)
    assert info.has_audio
    assert abs(info.duration - speech.duration) < 0.05, (info.duration, speech.duration)
    assert result.subtitles.startswith("WEBVTT")
    assert text.split()[0] in result.subtitles and text.split()[-1] in result.subtitles
    frames = list(iter_frames(result.path))
    openings = []
    for frame, (target, _) in zip(frames, result.targets, strict=True):
        found = mesh_of(animator, frame, target)
        openings.append(mouth_opening(found) if found is not None else 0.0)
    rest = mouth_opening(animator.prepare(source).landmarks)
    assert max(openings) > rest + 0.12  # the mouth opens for the vowels
    assert min(openings) < rest + 0.05  # and closes (p, b, m, pauses)


def test_talking_photo_without_espeak_says_so():
    with pytest.raises(SpeechError) as caught:
        Synthesizer(library="/nonexistent/libespeak-ng.so.1")
    assert caught.value.code == "speech_unavailable"
    assert "espeak-ng" in str(caught.value)


def test_speech_refuses_empty_and_unknown_language():
    synth = Synthesizer()
    with pytest.raises(SpeechError):
        synth.speak("   ")
    with pytest.raises(SpeechError):
        synth.speak("hello", language="xx")
