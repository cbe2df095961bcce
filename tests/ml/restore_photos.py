"""Real photos turned into old ones, and the measures the restore tests and bench share.

Colour photos of the 5-celebrity set are turned grey (Lab L kept) or degraded (blur, downscale,
noise, scratches and dust); the measures compare a result with the clean original.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ml.restore.color import colour_report, lab_to_rgb, rgb_to_lab
from ml.restore.face_prior import ALIGN_SIDE, FacePrior, five_points
from ml.restore.hints import Stroke
from ml.stylemix.align import face_mask, frame_matrix

CELEBRITIES = ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling")
#: A flat sepia print's chroma (Lab a, b): the baseline a colorizer must beat besides grey.
SEPIA_AB = (6.0, 18.0)


def load_rgb(path: Path) -> np.ndarray:
    """A photo file as uint8 RGB."""
    return np.asarray(Image.open(path).convert("RGB"))


def colour_photos(dataset: Path, split: str, person: str) -> list[Path]:
    """The photos of `person` in `split` that are really in colour."""
    folder = dataset / split / person
    return [p for p in sorted(folder.glob("*.jpg")) if colour_report(load_rgb(p)).is_colour]


def flat_chroma(rgb: np.ndarray, ab: tuple[float, float]) -> np.ndarray:
    """The photo's luminance with one chroma everywhere (grey for (0, 0), sepia for SEPIA_AB)."""
    lab = rgb_to_lab(rgb)
    lab[:, :, 1], lab[:, :, 2] = ab
    return lab_to_rgb(lab)


def ab_rmse(result: np.ndarray, original: np.ndarray, mask: np.ndarray | None = None) -> float:
    """RMS distance in Lab (a, b) between two photos, over `mask` when given."""
    diff = rgb_to_lab(result)[:, :, 1:] - rgb_to_lab(original)[:, :, 1:]
    dist2 = (diff**2).sum(axis=2)
    return float(np.sqrt(dist2[mask].mean() if mask is not None else dist2.mean()))


def sampled_strokes(original: np.ndarray, count: int, seed: int, width: float = 6) -> list[Stroke]:
    """Dots of the original's own colour at random places: a user's hints, simulated."""
    rng = np.random.default_rng(seed)
    height, width_px = original.shape[:2]
    strokes = []
    for _ in range(count):
        x, y = int(rng.integers(4, width_px - 4)), int(rng.integers(4, height - 4))
        colour = original[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(axis=0).astype(int)
        hex_colour = "#{:02x}{:02x}{:02x}".format(*colour)
        strokes.append(Stroke(hex_colour, ((float(x), float(y)),), float(width)))
    return strokes


def degrade(clean: np.ndarray, factor: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An old print from a clean photo: blur, downscale, noise, 3 scratches and 15 dust specks.

    Returns the degraded photo and the mask of its scratch and dust pixels.
    """
    rng = np.random.default_rng(seed)
    height, width = clean.shape[:2]
    blurred = cv2.GaussianBlur(clean, (0, 0), 1.2)
    small = cv2.resize(blurred, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    noisy = small.astype(np.float32) + rng.normal(0, 6, small.shape)
    old = np.clip(noisy, 0, 255).astype(np.uint8)
    sh, sw = old.shape[:2]
    defects = np.zeros((sh, sw), np.uint8)
    for _ in range(3):
        mark = np.zeros((sh, sw), np.uint8)
        x0 = int(rng.integers(0, sw))
        x1 = x0 + int(rng.integers(-10, 10))
        cv2.line(mark, (x0, 0), (x1, sh - 1), 1, 1)
        old[mark > 0] = 235 if rng.random() < 0.5 else 25
        defects |= mark
    for _ in range(15):
        mark = np.zeros((sh, sw), np.uint8)
        cv2.circle(mark, (int(rng.integers(0, sw)), int(rng.integers(0, sh))), 1, 1, -1)
        old[mark > 0] = 240 if rng.random() < 0.5 else 15
        defects |= mark
    return old, defects.astype(bool)


def face_skin(prior: FacePrior, rgb: np.ndarray) -> np.ndarray | None:
    """The largest face's skin ellipse (FFHQ frame) as a photo mask; None when no face is found.

    Found on the colour original, so the grey or degraded copy is measured on the same pixels.
    """
    faces = prior.faces(rgb)
    if not faces:
        return None
    inverse = cv2.invertAffineTransform(frame_matrix(five_points(faces[0]), ALIGN_SIDE))
    size = (rgb.shape[1], rgb.shape[0])
    return cv2.warpAffine(face_mask(ALIGN_SIDE, 0.0), inverse, size) > 0.5


def psnr(result: np.ndarray, original: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB."""
    mse = np.mean((result.astype(np.float64) - original.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def edge_sharpness(rgb: np.ndarray, skip: np.ndarray | None = None) -> float:
    """No-reference sharpness: mean gradient of the strongest 2% of edges, after a light blur.

    The blur keeps pixel noise from counting as detail; `skip` leaves out known defects.
    """
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = cv2.GaussianBlur(grey, (0, 0), 1.0)
    magnitude = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    values = magnitude[~skip] if skip is not None else magnitude.ravel()
    top = np.sort(values)[-max(1, values.size // 50) :]
    return float(top.mean())
