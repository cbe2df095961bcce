"""Face quality on real photos: good faces pass; small, turned and blurred ones are named."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ml.alignment import align_face
from ml.detection import FaceDetector
from ml.quality import BLURRED, OK, TOO_SMALL, TURNED, assess


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    """The photo detector (faces from 20 px)."""
    return FaceDetector.for_photos()


@pytest.fixture(scope="module")
def val_photos() -> list[np.ndarray]:
    """Every val photo of the 5-celebrity set (real photos)."""
    root = Path(os.environ["FACES_DATASET"]) / "val"
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(root.glob("*/*.jpg"))]


def _quality(detector, rgb):
    face = detector.detect(rgb)[0]
    return face, assess(face, align_face(rgb, face))


def test_every_val_face_is_good_enough(detector, val_photos):
    verdicts = [_quality(detector, rgb)[1] for rgb in val_photos]
    assert [q.verdict for q in verdicts] == [OK] * len(val_photos)
    assert all(abs(q.yaw) < 0.35 for q in verdicts)


def test_a_far_away_face_is_too_small(detector, val_photos):
    rgb = val_photos[0]
    face, _ = _quality(detector, rgb)
    scale = 9.0 / (face.box[2] * 0.4)  # eyes ~9 px apart
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((240, 320, 3), 128, np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small[:240, :320]
    faces = detector.detect(canvas)
    assert faces, "the 20 px detector still finds the small face"
    assert assess(faces[0], align_face(canvas, faces[0])).verdict == TOO_SMALL


def test_a_blurred_face_is_blurred(detector, val_photos):
    face, good = _quality(detector, val_photos[1])
    # Motion-like blur over a tenth of the face's width: the features are smeared away.
    rgb = cv2.GaussianBlur(val_photos[1], (0, 0), face.box[2] / 10)
    faces = detector.detect(rgb)
    assert good.verdict == OK and faces
    blurred = assess(faces[0], align_face(rgb, faces[0]))
    assert blurred.verdict == BLURRED and blurred.sharpness < good.sharpness / 5


def test_a_face_turned_away_is_turned(detector, val_photos):
    rgb = val_photos[2]
    face, good = _quality(detector, rgb)
    (lx, ly), (rx, _) = face.keypoints["left_eye"], face.keypoints["right_eye"]
    # The nose seen where a head turned ~35 degrees puts it: most of the way to one eye.
    turned = replace(face, keypoints={**face.keypoints, "nose": (lx + 0.95 * (rx - lx), ly + 30)})
    verdict = assess(turned, align_face(rgb, face))
    assert good.verdict == OK and verdict.verdict == TURNED and verdict.yaw > 0.4
