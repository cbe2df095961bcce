"""Enhance an old photo: dust and scratches, denoise, upscale, local contrast, sharpen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .color import lab_to_rgb, rgb_to_lab
from .errors import RestoreError
from .scratches import detect_defects, inpaint_defects
from .super_resolution import RealEsrgan

if TYPE_CHECKING:
    from .face_prior import FacePrior

Progress = Callable[[float, str], None]
MAX_OUTPUT_PIXELS = 36_000_000


@dataclass(frozen=True)
class EnhanceOptions:
    """What to do and how strongly (each strength in [0, 1]; 0 skips the step)."""

    scratches: float = 0.5
    denoise: float = 0.5
    contrast: float = 0.3
    sharpen: float = 0.4
    upscale: int = 1  # 1, 2 or 4
    faces: float = 0.0  # strength of the generator's reconstruction blended over each face
    face_steps: int = 60  # projection steps per face


@dataclass
class EnhanceResult:
    """The enhanced photo and what was done."""

    rgb: np.ndarray
    defect_pixels: int = 0
    noise_sigma: float = 0.0
    steps: list[str] = field(default_factory=list)
    faces: dict | None = None  # what face restoration did (PriorReport.as_dict())


def estimate_noise(rgb: np.ndarray) -> float:
    """Noise standard deviation (levels, mean of R, G, B) by Immerkaer's (1996) estimator."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    response = np.abs(cv2.filter2D(rgb.astype(np.float64), -1, kernel)[1:-1, 1:-1])
    height, width = rgb.shape[:2]
    return float(np.sqrt(np.pi / 2) * response.sum() / (18 * (width - 2) * (height - 2)))


def denoise(rgb: np.ndarray, strength: float, sigma: float) -> np.ndarray:
    """Non-local means, its filter strength set from the measured noise."""
    h = float(np.clip(sigma * (0.5 + strength), 2.0, 30.0))
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    out = cv2.fastNlMeansDenoisingColored(bgr, None, h, h * 0.8, 7, 21)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def local_contrast(rgb: np.ndarray, strength: float) -> np.ndarray:
    """CLAHE on the L channel of Lab, blended in by `strength`; colour untouched."""
    lab = rgb_to_lab(rgb)
    lightness = np.clip(lab[:, :, 0] * 2.55, 0, 255).astype(np.uint8)
    tiles = max(2, round(max(rgb.shape[:2]) / 128))
    clahe = cv2.createCLAHE(clipLimit=1.0 + 2.0 * strength, tileGridSize=(tiles, tiles))
    equalised = clahe.apply(lightness).astype(np.float32) / 2.55
    lab[:, :, 0] = (1 - strength) * lab[:, :, 0] + strength * equalised
    return lab_to_rgb(lab)


def sharpen(rgb: np.ndarray, strength: float) -> np.ndarray:
    """Unsharp mask on L (so no colour fringes), radius from the photo's size."""
    lab = rgb_to_lab(rgb)
    sigma = max(1.0, max(rgb.shape[:2]) / 800)
    blurred = cv2.GaussianBlur(lab[:, :, 0], (0, 0), sigma)
    lab[:, :, 0] = np.clip(lab[:, :, 0] + 1.5 * strength * (lab[:, :, 0] - blurred), 0, 100)
    return lab_to_rgb(lab)


def _noop(_fraction: float, _stage: str) -> None:
    return None


def enhance(
    rgb: np.ndarray,
    options: EnhanceOptions,
    upscaler: RealEsrgan | None = None,
    progress: Progress | None = None,
    face_prior: FacePrior | None = None,
) -> EnhanceResult:
    """Run the enabled steps in order; `upscaler` is needed when options.upscale > 1, and
    `face_prior` when options.faces > 0."""
    progress = progress or _noop
    result = EnhanceResult(rgb)
    image = rgb
    if options.faces > 0 and face_prior is None:
        raise ValueError("face restoration needs the face prior")
    if not 0 <= options.faces <= 1:
        raise RestoreError("faces must be between 0 and 1.", "bad_params")
    if options.upscale not in (1, 2, 4):
        raise RestoreError("upscale must be 1, 2 or 4.", "bad_params")
    if options.upscale > 1:
        if upscaler is None or upscaler.scale != options.upscale:
            raise ValueError("an upscaler of the requested scale is needed")
        out_pixels = image.shape[0] * image.shape[1] * options.upscale**2
        if out_pixels > MAX_OUTPUT_PIXELS:
            raise RestoreError(
                f"Upscaled x{options.upscale}, this photo would have {out_pixels:,} pixels; at "
                f"most {MAX_OUTPUT_PIXELS:,} are made. Choose a smaller factor.",
                "too_large_to_upscale",
            )
    if options.scratches > 0:
        progress(0.02, "scratches")
        mask = detect_defects(image, options.scratches)
        result.defect_pixels = int(mask.sum())
        image = inpaint_defects(image, mask)
        result.steps.append("scratches")
    result.noise_sigma = round(estimate_noise(image), 2)
    if options.denoise > 0:
        progress(0.1, "denoise")
        # Real-ESRGAN is trained on noisy inputs and cleans them itself: before it, denoise
        # half as hard, so the detail it needs is still there.
        strength = options.denoise * (0.5 if options.upscale > 1 else 1.0)
        image = denoise(image, strength, result.noise_sigma)
        result.steps.append("denoise")
    if options.upscale > 1:
        progress(0.2, "upscale")
        image = upscaler.upscale(image, progress=lambda f: progress(0.2 + 0.7 * f, "upscale"))
        result.steps.append(f"upscale x{options.upscale}")
    if options.faces > 0:
        progress(0.9, "faces")
        image, report = face_prior.restore(
            image,
            options.faces,
            iterations=options.face_steps,
            progress=lambda f, stage: progress(0.9, f"faces: {stage} {round(100 * f)}%"),
        )
        result.faces = report.as_dict()
        if report.faces_used:
            result.steps.append("faces")
    if options.contrast > 0:
        progress(0.92, "contrast")
        image = local_contrast(image, options.contrast)
        result.steps.append("contrast")
    if options.sharpen > 0:
        progress(0.96, "sharpen")
        image = sharpen(image, options.sharpen)
        result.steps.append("sharpen")
    progress(1.0, "done")
    result.rgb = image
    return result
