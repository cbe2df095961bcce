"""Colour-space helpers (CIELAB via OpenCV) and the detection of photos that are already colour."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 Lab (L in [0, 100], a and b roughly in [-110, 110])."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """float32 Lab -> uint8 RGB (out-of-gamut colours clipped)."""
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """The L channel (0-100, float32) of an RGB photo."""
    return rgb_to_lab(rgb)[:, :, 0]


def grey_rgb(rgb: np.ndarray) -> np.ndarray:
    """The photo with its chroma removed (L kept, a = b = 0), as uint8 RGB."""
    lab = rgb_to_lab(rgb)
    lab[:, :, 1:] = 0.0
    return lab_to_rgb(lab)


def hex_to_ab(colour: str) -> tuple[float, float]:
    """The (a, b) chroma of a '#rrggbb' colour."""
    value = colour.lstrip("#")
    rgb = np.array([[[int(value[i : i + 2], 16) for i in (0, 2, 4)]]], dtype=np.uint8)
    lab = rgb_to_lab(rgb)[0, 0]
    return float(lab[1]), float(lab[2])


@dataclass(frozen=True)
class ColourReport:
    """Whether a photo holds real colour, and how much."""

    is_colour: bool
    #: 90th percentile of the chroma distance from the photo's own tint (Lab units).
    colour_spread: float
    #: The photo's overall tint (median a, b): sepia and cyanotype prints have one.
    tint_ab: tuple[float, float]


#: A photo whose chroma varies less than this around its tint is monochrome (grey, sepia, toned).
COLOUR_SPREAD_THRESHOLD = 6.0


def colour_report(rgb: np.ndarray) -> ColourReport:
    """Tell a colour photo from a grey or toned (sepia, cyanotype) one."""
    small = rgb
    longest = max(rgb.shape[:2])
    if longest > 512:
        scale = 512 / longest
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    lab = rgb_to_lab(small)
    ab = lab[:, :, 1:].reshape(-1, 2)
    lightness = lab[:, :, 0].reshape(-1)
    # Dark and bright pixels carry no reliable chroma (JPEG noise; a toned print's tint is
    # clipped by the gamut there).
    usable = (lightness > 15) & (lightness < 88)
    if usable.sum() < 64:
        usable = np.ones_like(usable)
    ab = ab[usable]
    tint = np.median(ab, axis=0)
    spread = float(np.percentile(np.linalg.norm(ab - tint, axis=1), 90))
    return ColourReport(
        is_colour=spread >= COLOUR_SPREAD_THRESHOLD,
        colour_spread=round(spread, 2),
        tint_ab=(round(float(tint[0]), 2), round(float(tint[1]), 2)),
    )
