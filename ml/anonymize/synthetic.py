"""Putting a synthetic face in: mesh shape blend, skin colour transfer, Poisson cloning."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ml import colour
from ml.face_mesh import (
    FACE_OVAL,
)


def blend_shape(mean: np.ndarray, bystander: np.ndarray, keep: float) -> np.ndarray:
    """The bystander's face outline with the donors' inner proportions, posed like the bystander.

    An affine fit of the donors' mean mesh onto the bystander carries pose (position, size, roll,
    the foreshortening of a turned head); only `keep` of the bystander's own inner geometry
    (eye spacing, nose and mouth shape: identity cues) is kept. The outline stays the
    bystander's, fading into the fit over ~15% of the face, so the new face fits the head.
    """
    design = np.hstack([mean, np.ones((len(mean), 1))])
    affine, *_ = np.linalg.lstsq(design, bystander, rcond=None)
    fitted = design @ affine
    ring = mean[list(FACE_OVAL)]
    distance = np.sqrt(((mean[:, None, :] - ring[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    width = float(np.ptp(mean[:, 0])) or 1.0
    weight = keep + (1.0 - keep) * np.exp(-((distance / (0.15 * width)) ** 2))
    return fitted + weight[:, None] * (bystander - fitted)


def grow(points: np.ndarray, fraction: float, pixels: int, height: int, width: int):
    """The points' bounding box grown by `fraction` of its size plus `pixels`, clipped."""
    low, high = points.min(axis=0), points.max(axis=0)
    pad = (high - low) * fraction + pixels
    x0, y0 = (int(max(0, math.floor(v))) for v in low - pad)
    x1 = int(min(width, math.ceil(high[0] + pad[0])))
    y1 = int(min(height, math.ceil(high[1] + pad[1])))
    return x0, y0, x1, y1


def match_colour(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Move `source`'s skin colour inside `mask` to `target`'s (LAB, trimmed statistics).

    Statistics come from the pixels between the 20th and 80th lightness percentile (skin; not
    teeth, eyes, brows or stray hair), and the spread moves by at most 25%: a bystander's open
    smile must not make the new face's skin paler and its features darker.
    """
    src = cv2.cvtColor(source, cv2.COLOR_RGB2LAB).astype(np.float32)
    dst = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    moved = colour.transfer(src, dst, mask, (0.8, 1.25), colour.skin_stats)
    return cv2.cvtColor(np.clip(moved, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def poisson(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """cv2.seamlessClone of source into target over mask, both the same size and aligned."""
    pad = 4
    src = cv2.copyMakeBorder(source, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    dst = cv2.copyMakeBorder(target, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    inner = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    ys, xs = np.nonzero(inner)
    # seamlessClone puts the mask's bounding box at centre - (len // 2), len = max - min.
    centre = (
        int(xs.min() + (xs.max() - xs.min()) // 2),
        int(ys.min() + (ys.max() - ys.min()) // 2),
    )
    out = cv2.seamlessClone(src, dst, inner, centre, cv2.NORMAL_CLONE)
    return out[pad:-pad, pad:-pad]
