"""Large close faces (filling the frame, turned, blurred, low JPEG quality) are still found."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.detection import FaceDetector
from ml.images import decode_image, encode_jpeg

# (face width in a 640x480 frame, head tilt in degrees): the case was ~250 px and ~10 deg.
CASES = ((250, 10), (400, -30), (480, 40))


@pytest.fixture(scope="module")
def val_faces() -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """Every 5-celebrity val photo with its face box (photo detector)."""
    root = Path(os.environ["FACES_DATASET"]) / "val"
    detector = FaceDetector.for_photos()
    out = []
    for path in sorted(root.glob("*/*.jpg")):
        rgb = decode_image(path.read_bytes())
        out.append((rgb, detector.detect(rgb)[0].box))
    return out


def close_frame(rgb: np.ndarray, box, width: int, angle: float) -> np.ndarray:
    """The face scaled to `width` px, centred in a 640x480 frame, tilted, blurred, JPEG q35."""
    x, y, w, h = box
    scale = width / w
    big = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    cx, cy = (x + w / 2) * scale, (y + h / 2) * scale
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    matrix[:, 2] += (320 - cx, 240 - cy)
    frame = cv2.warpAffine(big, matrix, (640, 480), borderMode=cv2.BORDER_REPLICATE)
    frame = cv2.GaussianBlur(frame, (0, 0), 2.5)
    return decode_image(encode_jpeg(frame, 35))


@pytest.mark.parametrize(("width", "angle"), CASES)
def test_the_kiosk_detector_finds_every_close_face(val_faces, width, angle):
    kiosk = FaceDetector.for_kiosk()
    first_pass = found = 0
    for rgb, box in val_faces:
        frame = close_frame(rgb, box, width, angle)
        first_pass += bool(kiosk.detect_batch([frame])[0])
        faces = kiosk.detect(frame)
        assert faces, f"no face at {width} px, {angle} deg"
        found += 1
        x, y, w, h = faces[0].box
        # The face found is the one in the middle, about as large as it was made.
        assert abs(x + w / 2 - 320) < 0.25 * width and abs(y + h / 2 - 240) < 0.3 * width
        assert 0.5 * min(width, 480) < w < 1.6 * width
    assert found == len(val_faces)
    if width >= 400:
        assert first_pass < found  # the close-face retry is what finds them


def test_an_empty_frame_is_not_looked_at_again():
    kiosk = FaceDetector.for_kiosk()
    blank = np.full((480, 640, 3), 200, np.uint8)
    evidence: list[int] = []
    assert kiosk.detect_batch([blank], evidence) == [[]]
    assert evidence in ([0], [0, 0]) and kiosk.detect(blank) == []
