"""Put a face in the FFHQ frame the generator draws in, and paste a generated face back.

The FFHQ recipe (Karras et al., dataset tool): from the eye centres and mouth corners, the crop is
a square centred a tenth of the way from the eyes' midpoint to the mouth's, rotated so the eyes are
level, with a side of max(2 x eye distance, 1.8 x eye-to-mouth distance) times two. Here the five
points come from MTCNN (image-left eye first).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AlignedFace:
    """A face warped into the generator's frame, and the matrix that put it there."""

    image: np.ndarray  # size x size x 3 uint8 RGB
    matrix: np.ndarray  # 2x3 affine: source pixel -> aligned pixel
    points: np.ndarray  # the five points in aligned coordinates


def ffhq_quad(points: np.ndarray) -> np.ndarray:
    """The FFHQ crop quad (4x2: top-left, bottom-left, bottom-right, top-right) for five points."""
    pts = np.asarray(points, dtype=np.float64)
    eye_left, eye_right, _nose, mouth_left, mouth_right = pts
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * np.array([-1.0, 1.0])
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * np.array([-1.0, 1.0])
    centre = eye_avg + eye_to_mouth * 0.1
    return np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])


def quad_matrix(quad: np.ndarray, size: int) -> np.ndarray:
    """The affine matrix taking the quad's corners to the size x size square's."""
    src = np.asarray(quad[:3], dtype=np.float32)
    dst = np.array([[0, 0], [0, size], [size, size]], dtype=np.float32)
    return cv2.getAffineTransform(src, dst)


def align(rgb: np.ndarray, points: np.ndarray, size: int = 1024) -> AlignedFace:
    """Warp the face with these five points into a size x size FFHQ-framed crop."""
    matrix = quad_matrix(ffhq_quad(points), size)
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
