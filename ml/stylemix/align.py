"""Put a face in the FFHQ frame the generator draws in, and paste a generated face back.

The five MTCNN points (image-left eye first) are mapped by a least-squares similarity transform
onto where this generator puts them (`ml.generator.FFHQ_FIVE`, measured on its own faces), which
is the FFHQ dataset's crop (eyes level, centred a little below the eyes, face about half the side).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ml.age_gender import similarity_transform
from ml.generator import FFHQ_FIVE


@dataclass(frozen=True)
class AlignedFace:
    """A face warped into the generator's frame, and the matrix that put it there."""

    image: np.ndarray  # size x size x 3 uint8 RGB
    matrix: np.ndarray  # 2x3 affine: source pixel -> aligned pixel
    points: np.ndarray  # the five points in aligned coordinates


def frame_matrix(points: np.ndarray, size: int) -> np.ndarray:
    """The 2x3 similarity taking the five points onto the FFHQ frame's, at size x size."""
    src = np.asarray(points, dtype=np.float64).reshape(5, 2)
    if np.ptp(src, axis=0).max() < 2.0:
        raise ValueError("the five face points are degenerate")
    return similarity_transform(src, FFHQ_FIVE * size)


def align(rgb: np.ndarray, points: np.ndarray, size: int = 1024) -> AlignedFace:
    """Warp the face with these five points into a size x size FFHQ-framed crop."""
    matrix = frame_matrix(points, size)
    image = cv2.warpAffine(
        rgb, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
    )
    pts = np.asarray(points, dtype=np.float64)
    aligned_points = pts @ matrix[:, :2].T + matrix[:, 2]
    return AlignedFace(image, matrix, aligned_points.astype(np.float32))


def face_mask(size: int, feather: float = 0.08) -> np.ndarray:
    """A float mask (size x size, 0...1) of the face region of an FFHQ crop, feathered."""
    mask = np.zeros((size, size), dtype=np.float32)
    centre = (size // 2, int(size * 0.52))
    axes = (int(size * 0.33), int(size * 0.42))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    blur = max(3, int(size * feather) | 1)
    return cv2.GaussianBlur(mask, (blur, blur), 0)


def paste_back(
    rgb: np.ndarray, face: np.ndarray, matrix: np.ndarray, feather: float = 0.08
) -> np.ndarray:
    """Warp a generated FFHQ-frame face back into the photo and blend it with a feathered mask."""
    height, width = rgb.shape[:2]
    size = face.shape[0]
    inverse = cv2.invertAffineTransform(matrix)
    warped = cv2.warpAffine(face, inverse, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(face_mask(size, feather), inverse, (width, height))[..., None]
    blended = rgb.astype(np.float32) * (1.0 - mask) + warped.astype(np.float32) * mask
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
