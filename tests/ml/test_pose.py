"""Tests for ml.pose (MediaPipe Pose) with ml.gestures' rules on rendered people and real photos."""

from __future__ import annotations

import csv
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml.gestures import classify_rules
from ml.pose import LANDMARK_NAMES, PoseEstimator, PoseResult

ROOT = Path(__file__).resolve().parents[2]
GESTURES_DIR = ROOT / "tests" / "data" / "gestures"
MODEL_DIR = Path(os.environ.get("MODEL_DIR", ROOT / "instance" / "models"))
FACES_VAL = Path(os.environ.get("FACES_DATASET", MODEL_DIR / "5-celebrity-faces-dataset")) / "val"

# The 5-celebrity val photos that are head shots: head and shoulders, no hand in the picture
# (picked by eye). The other val photos show arms and hands: at a piano, hugging a punch bag,
# hands at the chin, an arm over the head.
HEAD_SHOTS = (
    "ben_afflek/httpabsolumentgratuitfreefrimagesbenaffleckjpg.jpg",
    "ben_afflek/httpafilesbiographycomimageuploadcfillcssrgbdprgfacehqwMTENDgMDUODczNDcNTcjpg.jpg",
    "ben_afflek/httpcsvkmeuadecafjpg.jpg",
    "elton_john/httpafilesbiographycomimageuploadcfillcssrgbdprgfacehqwMTEODAOTcxNjcMjczMjkzjpg.jpg",
    "elton_john/httpcdnlyricssongonlyricsnetwpcontentuploadsEltonJohnDiscographyCDreleasesjpg.jpg",
    "jerry_seinfeld/httpafilesbiographycomimageuploadcfillcssrgbdprgfacehqwMTIwNjANjMMDINzIxNjcjpg.jpg",
    "jerry_seinfeld/httpblognjcomentertainmentimpactcelebritiesmediumjerrybjpg.jpg",
    "jerry_seinfeld/httpcdnssninsidercomwpcontentuploadsjerryseinfeldxjpg.jpg",
    "madonna/httpcdncdnjustjaredcomwpcontentuploadsheadlinesmadonnatalksparisattackstearsjpg.jpg",
)


def _rows() -> list[dict[str, str]]:
    """labels.csv of the gesture test folder (empty when the folder is missing)."""
    labels = GESTURES_DIR / "labels.csv"
    if not labels.is_file():
        return []
    with labels.open(newline="") as handle:
        return list(csv.DictReader(handle))


ROWS = _rows()
STILLS = [row for row in ROWS if row["file"].startswith("stills/")]
ENROLL = [row for row in ROWS if row["file"].startswith("enroll/")]
needs_gestures = pytest.mark.skipif(not ROWS, reason=f"{GESTURES_DIR} is missing")


def _load(path: Path) -> np.ndarray:
    """Read a picture as an RGB uint8 array."""
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def estimator() -> PoseEstimator:
    """The kiosk pose estimator, loaded once for the module."""
    with PoseEstimator() as pose:
        yield pose


@pytest.fixture(scope="module")
def kiosk_detector():
    """The kiosk face detector (MTCNN), loaded once for the module."""
    from ml.detection import FaceDetector

    return FaceDetector.for_kiosk()


@needs_gestures
@pytest.mark.parametrize("row", STILLS, ids=[Path(row["file"]).stem for row in STILLS])
def test_every_still_reads_as_its_labelled_gesture(estimator, row):
    pose = estimator.estimate(_load(GESTURES_DIR / row["file"]))
    assert pose is not None, "no pose found"
    reading = classify_rules(pose.landmarks)
    assert reading.gesture == row["gesture"], reading


@needs_gestures
def test_frame_margin_recovers_the_close_up_o_the_bare_frame_misses(estimator):
    # Without the margin, BlazePose's detector scores this person 0.36 (< 0.5) and finds nobody;
    # see ml/pose.py. If MediaPipe ever finds it bare, the margin may no longer be needed.
    rgb = _load(GESTURES_DIR / "stills" / "v3_waist_O.jpg")
    with PoseEstimator(frame_margin=0.0) as bare:
        assert bare.estimate(rgb) is None
    pose = estimator.estimate(rgb)
    assert pose is not None
    assert classify_rules(pose.landmarks).gesture == "O"


@needs_gestures
@pytest.mark.parametrize("row", ENROLL, ids=[Path(row["file"]).stem for row in ENROLL])
def test_enrollment_photos_read_as_standby(estimator, row):
    pose = estimator.estimate(_load(GESTURES_DIR / row["file"]))
    assert pose is not None
    # Waist-up: the wrists are below the frame, extrapolated with visibility ~0.1.
    assert not pose.visible("left_wrist") and not pose.visible("right_wrist")
    assert classify_rules(pose.landmarks).gesture == "standby"


@needs_gestures
@pytest.mark.parametrize(
    "row", STILLS + ENROLL, ids=[Path(r["file"]).stem for r in STILLS + ENROLL]
)
def test_head_box_contains_the_kiosk_face_box(estimator, kiosk_detector, row):
    rgb = _load(GESTURES_DIR / row["file"])
    pose = estimator.estimate(rgb)
    faces = kiosk_detector.detect(rgb)
    assert pose is not None and faces
    fx, fy, fw, fh = faces[0].box
    hx, hy, hw, hh = pose.head_box()
    assert hx <= fx and hy <= fy and fx + fw <= hx + hw and fy + fh <= hy + hh
    # A head region, not the whole picture: at most ~6x the face box's area.
    assert hw * hh <= 6 * fw * fh


@pytest.mark.skipif(not FACES_VAL.is_dir(), reason=f"{FACES_VAL} is missing")
def test_head_shots_read_as_standby_or_no_pose(estimator):
    readings = {}
    for name in HEAD_SHOTS:
        pose = estimator.estimate(_load(FACES_VAL / name))
        readings[name] = "no pose" if pose is None else classify_rules(pose.landmarks).gesture
    print(readings)
    # No hand is in sight: the wrists MediaPipe extrapolates are not visible, so no arm makes a
    # gesture (8 of 9 give a pose and read standby; one, a face filling the picture, no pose).
    assert set(readings.values()) <= {"standby", "no pose"}
    assert list(readings.values()).count("standby") >= len(HEAD_SHOTS) - 2


@pytest.mark.skipif(not FACES_VAL.is_dir(), reason=f"{FACES_VAL} is missing")
def test_no_real_photo_reads_as_a_gesture_that_acts(estimator):
    # Publicity photos with arms and hands in every position: none is O, X or capture.
    photos = sorted(FACES_VAL.glob("*/*.jpg"))
    assert len(photos) >= 20
    for path in photos:
        pose = estimator.estimate(_load(path))
        if pose is not None:
            reading = classify_rules(pose.landmarks)
            assert reading.gesture in ("standby", None), (path.name, reading)


def test_blank_frame_has_no_pose(estimator):
    assert estimator.estimate(np.zeros((480, 640, 3), dtype=np.uint8)) is None
    assert estimator.estimate(np.full((480, 640, 3), 200, dtype=np.uint8)) is None


@needs_gestures
def test_landmarks_are_pixels_of_the_input_image_whatever_its_size(estimator):
    rgb = _load(GESTURES_DIR / "stills" / "v1_knees_capture.jpg")
    pose = estimator.estimate(rgb)
    small = estimator.estimate(np.ascontiguousarray(rgb[::2, ::2]))
    assert pose is not None and small is not None
    assert pose.landmarks.shape == (len(LANDMARK_NAMES), 4)
    assert pose.landmarks.dtype == np.float32 and not pose.landmarks.flags.writeable
    assert pose.image_size == (640, 480) and small.image_size == (320, 240)
    nose_x, nose_y = pose.point("nose")
    assert 0 < nose_x < 640 and 0 < nose_y < 480
    # Half-size frame: about half the pixel coordinates, for the well-seen joints.
    seen = pose.landmarks[:17, 3] > 0.9
    np.testing.assert_allclose(
        small.landmarks[:17, :2][seen] * 2, pose.landmarks[:17, :2][seen], atol=12
    )
    assert pose.visible("left_wrist") and pose.visibility("left_wrist") > 0.9


@needs_gestures
def test_grey_and_rgba_frames_are_accepted_and_floats_refused(estimator):
    rgb = _load(GESTURES_DIR / "stills" / "v2_knees_X.jpg")
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    for image in (grey, rgba):
        pose = estimator.estimate(image)
        assert pose is not None and classify_rules(pose.landmarks).gesture == "X"
    with pytest.raises(ValueError):
        estimator.estimate(rgb.astype(np.float32))


@needs_gestures
def test_concurrent_calls_give_the_same_landmarks_as_one_at_a_time(estimator):
    images = [_load(GESTURES_DIR / row["file"]) for row in STILLS[:6]]
    expected = [estimator.estimate(image).landmarks for image in images]
    results: dict[int, np.ndarray] = {}

    def work(index: int) -> None:
        results[index] = estimator.estimate(images[index % len(images)]).landmarks

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, landmarks in results.items():
        np.testing.assert_array_equal(landmarks, expected[index % len(images)])


def test_version_names_the_model_and_package(estimator):
    import mediapipe

    assert estimator.version == f"mediapipe-pose-full@{mediapipe.__version__}"


def test_pose_result_refuses_a_wrong_shape():
    with pytest.raises(ValueError):
        PoseResult(np.zeros((17, 4)))


def test_the_test_data_is_present():
    """The pose tests above skip without their data; here its absence is a failure."""
    assert ROWS, f"{GESTURES_DIR} is missing (tests/data/gestures is part of the repository)"
    assert FACES_VAL.is_dir(), f"{FACES_VAL} is missing (make models fetches it)"
