"""Hiding a face without a synthetic one: blur or pixelate an ellipse around it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

ELLIPSE_MARGIN = 0.4  # blur/pixelate cover an ellipse this much larger than the face box
BLUR_SIGMA = 0.25  # of the face's larger side
PIXELATE_BLOCKS = 6  # blocks across the face's larger side


def ellipse(box: Sequence[int], height: int, width: int):
    """The cover ellipse of a face box: (x0, y0, x1, y1) and its uint8 mask in that region."""
    x, y, w, h = box
    cx, cy = x + w / 2.0, y + h / 2.0
    ax, ay = w / 2.0 * (1 + ELLIPSE_MARGIN), h / 2.0 * (1 + ELLIPSE_MARGIN)
    x0, y0 = max(0, math.floor(cx - ax)), max(0, math.floor(cy - ay))
    x1, y1 = min(width, math.ceil(cx + ax)), min(height, math.ceil(cy + ay))
    mask = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.uint8)
    cv2.ellipse(
        mask,
        (round((cx - x0) * 4), round((cy - y0) * 4)),
        (round(ax * 4), round(ay * 4)),
        0,
        0,
        360,
        255,
        -1,
        lineType=cv2.LINE_8,
        shift=2,
    )
    return (x0, y0, x1, y1), mask


def blur(image: np.ndarray, box: Sequence[int]) -> tuple[int, int, int, int]:
    """Strong Gaussian blur over the face's ellipse, feathered inwards; in place."""
    height, width = image.shape[:2]
    (x0, y0, x1, y1), mask = ellipse(box, height, width)
    if mask.size == 0:
        return (x0, y0, x0, y0)
    sigma = max(2.0, BLUR_SIGMA * max(box[2], box[3]))
    reach = math.ceil(3 * sigma)
    bx0, by0 = max(0, x0 - reach), max(0, y0 - reach)
    bx1, by1 = min(width, x1 + reach), min(height, y1 + reach)
    context = image[by0:by1, bx0:bx1]
    # A large sigma is blurred at a smaller scale (same result, a fraction of the time).
    shrink = max(1.0, sigma / 4.0)
    small = cv2.resize(
        context,
        (max(1, round(context.shape[1] / shrink)), max(1, round(context.shape[0] / shrink))),
        interpolation=cv2.INTER_AREA,
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma / shrink)
    blurred = cv2.resize(
        small, (context.shape[1], context.shape[0]), interpolation=cv2.INTER_LINEAR
    )
    blurred = blurred[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0].astype(np.float32)
    feather = max(2.0, 0.08 * min(box[2], box[3]))
    alpha = np.clip(cv2.distanceTransform(mask, cv2.DIST_L2, 3) / feather, 0, 1)[..., None]
    region = image[y0:y1, x0:x1]
    mixed = alpha * blurred + (1 - alpha) * region.astype(np.float32)
    region[...] = np.round(mixed).astype(np.uint8)
    return (x0, y0, x1, y1)


def pixelate(image: np.ndarray, box: Sequence[int]) -> tuple[int, int, int, int]:
    """Blocks of 1/6 of the face size over the face's ellipse; in place."""
    height, width = image.shape[:2]
    (x0, y0, x1, y1), mask = ellipse(box, height, width)
    if mask.size == 0:
        return (x0, y0, x0, y0)
    block = max(3, math.ceil(max(box[2], box[3]) / PIXELATE_BLOCKS))
    region = image[y0:y1, x0:x1]
    rows, cols = region.shape[:2]
    small = cv2.resize(
        region,
        (max(1, math.ceil(cols / block)), max(1, math.ceil(rows / block))),
        interpolation=cv2.INTER_AREA,
    )
    big = cv2.resize(
        small, (small.shape[1] * block, small.shape[0] * block), interpolation=cv2.INTER_NEAREST
    )[:rows, :cols]
    inside = mask > 0
    region[inside] = big[inside]
    return (x0, y0, x1, y1)
