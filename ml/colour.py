"""Colour transfer (Reinhard et al. 2001) in CIE Lab: move one image's colour statistics inside a
mask to another's, with the spread ratio bounded so a flat or noisy patch cannot blow contrast up.
Used by face swap (whole face) and anonymize (skin only, trimmed statistics)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Stats = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def mean_spread(pixels: np.ndarray, floor: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per channel (the spread never below `floor`)."""
    return pixels.mean(axis=0), pixels.std(axis=0) + floor


def skin_stats(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread (Lab, 0-255) of the pixels whose lightness is between its 20th and 80th
    centile: skin, not teeth, eyes, brows or stray hair."""
    low, high = np.percentile(pixels[:, 0], [20, 80])
    skin = pixels[(pixels[:, 0] >= low) & (pixels[:, 0] <= high)]
    if len(skin) < 8:
        skin = pixels
    return skin.mean(axis=0), skin.std(axis=0) + 1.0


def transfer(
    source_lab: np.ndarray,
    target_lab: np.ndarray,
    mask: np.ndarray,
    bounds: tuple[float, float],
    stats: Stats = mean_spread,
) -> np.ndarray:
    """`source_lab` with the mean and spread of `target_lab` inside `mask` (float Lab arrays)."""
    inside = mask > 0
    src_mean, src_std = stats(source_lab[inside])
    dst_mean, dst_std = stats(target_lab[inside])
    ratio = np.clip(dst_std / src_std, *bounds)
    return (source_lab - src_mean) * ratio + dst_mean
