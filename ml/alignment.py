"""Face alignment for the embedder: the detected box levelled by the eyes, or the five keypoints
mapped onto canonical positions."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ml.age_gender import similarity_transform
from ml.detection import DetectedFace, five_points


def align_face(
    rgb: np.ndarray,
    face: DetectedFace,
    size: int = 160,
    margin: float = 0.2,
    square: bool = False,
) -> np.ndarray:
    """Return the face as a (size, size, 3) uint8 crop with the eyes level.

    The box is rotated about its centre by the eye angle, grown by `margin` of its width and
    height (split evenly between the sides; 0.2 is facenet's 32 px on a 160 px face) and, with
    `square`, widened to a square. Parts outside the image are black.
    """
    if size <= 0 or margin < 0:
        raise ValueError("size must be > 0 and margin >= 0")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got {rgb.shape} {rgb.dtype}")
    x, y, w, h = face.box
    crop_w, crop_h = w * (1.0 + margin), h * (1.0 + margin)
    if square:
        crop_w = crop_h = max(crop_w, crop_h)
    out_w, out_h = max(1, round(crop_w)), max(1, round(crop_h))
    # The crop first keeps the source resolution (rotation only), then is resized once, so that
    # a large face is shrunk with area interpolation instead of aliasing in warpAffine.
    angle = math.radians(face.eye_angle)
    cos, sin = math.cos(angle), math.sin(angle)
    # Pixel centres: the box spans x .. x + w - 1, the crop 0 .. out_w - 1.
    cx, cy = x + (w - 1) / 2.0, y + (h - 1) / 2.0
    ox, oy = (out_w - 1) / 2.0, (out_h - 1) / 2.0
    # Crop pixel (u, v) samples the source at centre + R(angle) @ (u - ox, v - oy).
    crop_to_source = np.array(
        [
            [cos, -sin, cx - cos * ox + sin * oy],
            [sin, cos, cy - sin * ox - cos * oy],
        ]
    )
    crop = cv2.warpAffine(
        rgb,
        crop_to_source,
        (out_w, out_h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    shrinking = out_w * out_h > size * size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)


# Where a box crop (`align_face`, margin 0.2, 160 px) puts the five MTCNN keypoints on average
# (left eye, right eye, nose, mouth left, mouth right), measured on the 91 detected 5-celebrity
# train faces. `align_to_landmarks` maps each face's own keypoints onto these positions, so the
# crop looks like the crops FaceNet was trained on, with the eyes, nose and mouth in place.
CANONICAL_KEYPOINTS_160 = np.array(
    [(52.6, 65.0), (111.8, 65.0), (83.0, 91.8), (54.6, 113.2), (107.8, 113.1)]
)
LANDMARK_SCALE = 0.9  # the keypoints drawn 10% closer to the centre: a little more context


def align_to_landmarks(
    rgb: np.ndarray, face: DetectedFace, size: int = 160, scale: float = LANDMARK_SCALE
) -> np.ndarray:
    """Return the face as a (size, size, 3) uint8 crop: a similarity transform of its five
    keypoints onto `CANONICAL_KEYPOINTS_160` (scaled by `scale` about the centre)."""
    target = ((CANONICAL_KEYPOINTS_160 - 80.0) * scale + 80.0) * (size / 160.0)
    return warp_to_points(rgb, face, target, size)


def warp_to_points(
    rgb: np.ndarray, face: DetectedFace, target: np.ndarray, size: int
) -> np.ndarray:
    """The (size, size, 3) uint8 crop whose five keypoints (KEYPOINT_NAMES order) best match
    `target` under a similarity transform; large faces are shrunk without aliasing."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got {rgb.shape} {rgb.dtype}")
    matrix = similarity_transform(five_points(face), np.asarray(target, dtype=np.float64))
    image = rgb
    # A large face is shrunk by halving steps first, so warpAffine does not alias.
    while math.hypot(matrix[0, 0], matrix[1, 0]) < 0.5 and min(image.shape[:2]) >= 4:
        image = cv2.pyrDown(image)
        matrix[:, :2] *= 2.0
    return cv2.warpAffine(
        image,
        matrix,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
