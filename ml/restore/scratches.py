"""Dust and scratch detection on old prints, and inpainting of what was found.

Dust and scratches are thin features much brighter or darker than their surroundings, which a
median filter removes while it keeps edges: the residual |image - median| picks them out; a robust
threshold (median + k MAD of the residual) with hysteresis keeps the strong ones; connected
components are kept when they are small (dust) or long and thin (scratches), so broad natural
features (eyes, hair, edges) are left alone.
"""

from __future__ import annotations

import cv2
import numpy as np


def detect_defects(rgb: np.ndarray, sensitivity: float = 0.5) -> np.ndarray:
    """A boolean mask of dust specks and scratches; `sensitivity` in [0, 1]."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    height, width = grey.shape
    side = min(height, width)
    size = max(5, round(side / 100) | 1)
    response = np.abs(grey.astype(np.float32) - cv2.medianBlur(grey, size).astype(np.float32))
    median = float(np.median(response))
    mad = float(np.median(np.abs(response - median))) + 1.0
    sensitivity = float(np.clip(sensitivity, 0.0, 1.0))
    high = max(median + (16.0 - 10.0 * sensitivity) * mad, 60.0 - 30.0 * sensitivity)
    low = high * 0.5
    # Hysteresis: a defect is a connected run of moderate response holding a strong pixel.
    candidates = (response > low).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidates, connectivity=8)
    strong = np.zeros(count, bool)
    strong[np.unique(labels[response > high])] = True
    mask = np.zeros((height, width), bool)
    dust_area = max(12, int(side * side * 0.0005))
    for label in np.nonzero(strong)[0]:
        if label == 0:
            continue
        area = stats[label, cv2.CC_STAT_AREA]
        w, h = stats[label, cv2.CC_STAT_WIDTH], stats[label, cv2.CC_STAT_HEIGHT]
        length = max(w, h)
        # Dust: a small speck. Scratch: long and thin (area about length x a few pixels).
        if area <= dust_area or (
            length >= side * 0.08 and area / max(length, 1) <= max(3.0, side / 150)
        ):
            mask |= labels == label
    return mask


def inpaint_defects(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill the masked pixels from their surroundings (Telea's fast marching)."""
    if not mask.any():
        return rgb.copy()
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    radius = max(3, round(min(rgb.shape[:2]) / 150))
    return cv2.inpaint(rgb, grown, radius, cv2.INPAINT_TELEA)
