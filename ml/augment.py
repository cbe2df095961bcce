"""Enrollment augmentation: a few photos become ~20 face crops each (flip, rotate, light, blur)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Variation:
    """One augmentation recipe applied to an aligned face crop."""

    name: str
    flip: bool = False
    angle: float = 0.0
    scale: float = 1.0
    brightness: float = 0.0
    contrast: float = 1.0
    blur: int = 0


# The variations the field uses for few-shot enrollment, fixed so templates are reproducible.
VARIATIONS: tuple[Variation, ...] = (
    Variation("flip", flip=True),
    Variation("rot-8", angle=-8),
    Variation("rot+8", angle=8),
    Variation("rot-15", angle=-15),
    Variation("rot+15", angle=15),
    Variation("zoom-in", scale=1.08),
    Variation("zoom-out", scale=0.93),
    Variation("bright", brightness=35),
    Variation("dark", brightness=-35),
    Variation("contrast-hi", contrast=1.3),
    Variation("contrast-lo", contrast=0.7),
    Variation("blur3", blur=3),
    Variation("blur5", blur=5),
    Variation("flip-rot-8", flip=True, angle=-8),
    Variation("flip-rot+8", flip=True, angle=8),
    Variation("flip-dark", flip=True, brightness=-30),
    Variation("flip-bright", flip=True, brightness=30),
    Variation("rot+5-blur3", angle=5, blur=3),
    Variation("rot-5-contrast-lo", angle=-5, contrast=0.75),
    Variation("flip-zoom-in-contrast-hi", flip=True, scale=1.06, contrast=1.2),
)


def apply_variation(face: np.ndarray, variation: Variation) -> np.ndarray:
    """Return `face` (uint8 HxWx3) transformed by one variation."""
    out = face
    if variation.flip:
        out = cv2.flip(out, 1)
    if variation.angle or variation.scale != 1.0:
        h, w = out.shape[:2]
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), variation.angle, variation.scale)
        out = cv2.warpAffine(
            out, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
    if variation.contrast != 1.0 or variation.brightness:
        mean = out.mean()
        adjusted = (out.astype(np.float32) - mean) * variation.contrast + mean
        out = np.clip(adjusted + variation.brightness, 0, 255).astype(np.uint8)
    if variation.blur:
        out = cv2.GaussianBlur(out, (variation.blur, variation.blur), 0)
    return np.ascontiguousarray(out)


def augment_face(face: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Return the original crop plus every augmented variation, named."""
    return [("original", face)] + [(v.name, apply_variation(face, v)) for v in VARIATIONS]
