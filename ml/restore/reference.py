"""Seeds from a reference colour photo, after Welsh, Ashikhmin and Mueller (SIGGRAPH 2002).

The reference's luminance is remapped to the grey photo's mean and spread; each pixel is described
by its luminance, the standard deviation of its 5x5 neighbourhood and its position; grey pixels
take the chroma of the reference pixels whose features match best. Two departures from Welsh et
al., both for old portraits: the position is measured in face units from each photo's face when
both have one (so skin matches skin, not a background of the same grey), else in frame units with
a lower weight; and the chroma of the k best matches is averaged, keeping only matches that agree
(low spread) and are close, so the seeds are the confident ones and propagation fills in the rest.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import cKDTree

from .color import rgb_to_lab
from .propagation import Seeds

#: A box (x, y, w, h) as fractions of the photo's width and height.
Box = tuple[float, float, float, float]

REFERENCE_SIDE = 160
NEIGHBOURS = 12
SEED_STRIDE = 3
#: Feature scales: 10 L units, 5 units of local spread, and a position weight.
L_UNIT = 10.0
STD_UNIT = 5.0
FACE_POSITION_WEIGHT = 5.0
FRAME_POSITION_WEIGHT = 1.5
#: Matches whose chroma spreads more than this (Lab units, RMS) or lie further give no seed.
MAX_SPREAD = 12.0
MAX_DISTANCE = 2.0


def _local_std(lightness: np.ndarray) -> np.ndarray:
    mean = cv2.blur(lightness, (5, 5))
    mean_sq = cv2.blur(lightness * lightness, (5, 5))
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def _fit(rgb: np.ndarray, max_side: int) -> np.ndarray:
    longest = max(rgb.shape[:2])
    if longest <= max_side:
        return rgb
    scale = max_side / longest
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _inside(lightness: np.ndarray, box: Box) -> np.ndarray:
    """The pixels inside `box`, shrunk to its middle (skin more than hair and background)."""
    height, width = lightness.shape
    bx, by, bw, bh = box
    x0, x1 = int((bx + 0.2 * bw) * width), int(np.ceil((bx + 0.8 * bw) * width))
    y0, y1 = int((by + 0.2 * bh) * height), int(np.ceil((by + 0.8 * bh) * height))
    part = lightness[max(0, y0) : max(y0 + 1, y1), max(0, x0) : max(x0 + 1, x1)]
    return part if part.size >= 4 else lightness


def _features(lightness: np.ndarray, box: Box | None, weight: float) -> np.ndarray:
    height, width = lightness.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = (xs + 0.5) / width, (ys + 0.5) / height
    if box is not None:
        bx, by, bw, bh = box
        u, v = (u - bx - bw / 2) / bw, (v - by - bh / 2) / bh
    else:
        u, v = u - 0.5, v - 0.5
    spread = _local_std(lightness.astype(np.float32))
    return np.stack(
        [lightness / L_UNIT, spread / STD_UNIT, u * weight, v * weight], axis=-1
    ).astype(np.float32)


def reference_seeds(
    lightness: np.ndarray,
    reference_rgb: np.ndarray,
    target_face: Box | None = None,
    reference_face: Box | None = None,
) -> Seeds:
    """Seeds on the grid of `lightness` (L, 0-100) matched from a colour reference photo."""
    ref_lab = rgb_to_lab(_fit(reference_rgb, REFERENCE_SIDE))
    ref_l = ref_lab[:, :, 0]
    faces = target_face is not None and reference_face is not None
    # Luminance remapping: the reference's L moved to the target's mean and spread, measured on
    # the faces when both photos have one (backgrounds differ far more than skin does).
    ref_part = _inside(ref_l, reference_face) if faces else ref_l
    tgt_part = _inside(lightness, target_face) if faces else lightness
    gain = tgt_part.std() / max(ref_part.std(), 1e-3)
    ref_l = (ref_l - ref_part.mean()) * gain + tgt_part.mean()
    weight = FACE_POSITION_WEIGHT if faces else FRAME_POSITION_WEIGHT
    ref_features = _features(ref_l, reference_face if faces else None, weight).reshape(-1, 4)
    tgt_features = _features(lightness, target_face if faces else None, weight)
    ref_ab = ref_lab[:, :, 1:].reshape(-1, 2)

    grid = np.zeros(lightness.shape, bool)
    grid[SEED_STRIDE // 2 :: SEED_STRIDE, SEED_STRIDE // 2 :: SEED_STRIDE] = True
    queries = tgt_features[grid]
    distance, index = cKDTree(ref_features).query(queries, k=NEIGHBOURS, workers=1)
    matched = ref_ab[index]  # n x k x 2
    mean = matched.mean(axis=1)
    spread = np.sqrt(((matched - mean[:, None]) ** 2).sum(axis=2).mean(axis=1))
    confident = (spread <= MAX_SPREAD) & (distance.mean(axis=1) <= MAX_DISTANCE)

    seeds = Seeds.empty(lightness.shape)
    ys, xs = np.nonzero(grid)
    seeds.mask[ys[confident], xs[confident]] = True
    seeds.ab[ys[confident], xs[confident]] = mean[confident]
    return seeds
