"""Dust and scratch detection on old prints, and inpainting of what was found.

Dust and scratches are thin features much brighter or darker than their surroundings, which a
median filter removes while it keeps edges: the residual |image - median| picks them out; a robust
threshold (median + k MAD of the residual) keeps the strong ones; connected components are kept
when they are small (dust) or long and thin (scratches), so broad natural features (eyes, hair,
edges) are left alone; each kept mark grows into the weaker residual right around it.
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
    # Shapes are judged on the strong pixels alone (a speck next to a dark eye must not merge
    # with the eye); each kept mark then grows into the moderate response right around it.
    strong = (response > high).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(strong, connectivity=8)
    keep = np.zeros(count, bool)
    dust_area = max(12, int(side * side * 0.0005))
    for label in range(1, count):
        area = stats[label, cv2.CC_STAT_AREA]
        length = max(stats[label, cv2.CC_STAT_WIDTH], stats[label, cv2.CC_STAT_HEIGHT])
        # Dust: a small speck. Scratch: long and thin (area about length x a few pixels).
        keep[label] = area <= dust_area or (
            length >= side * 0.08 and area / max(length, 1) <= max(3.0, side / 150)
        )
    marks = keep[labels]
    around = cv2.dilate(marks.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return marks | (around & (response > high * 0.5))


def inpaint_defects(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill the masked pixels from their surroundings (Telea's fast marching)."""
    if not mask.any():
        return rgb.copy()
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    radius = max(3, round(min(rgb.shape[:2]) / 150))
    return cv2.inpaint(rgb, grown, radius, cv2.INPAINT_TELEA)
