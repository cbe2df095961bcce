"""The one call from ml/restore into the generator's projection (ml/stylemix/projection.py).

`project_face` projects an FFHQ-aligned face and returns the reconstruction. With
`luminance_only` the projection must leave the generator's colour free. The projection's loss
compares RGB, so this wrapper makes the comparison colour-blind by alternation: the target is
the photo's lightness (Lab L) with the *current reconstruction's* chroma, refreshed every few
steps, so the colour terms of the loss are (close to) zero and only luminance pulls the latent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ml.stylemix.generator import downsample, to_uint8_rgb
from ml.stylemix.projection import ProjectionSettings, project

from .color import lab_to_rgb, rgb_to_lab

#: Steps between refreshes of the target's chroma (luminance-only projection).
REFRESH_EVERY = 10


def _resize(rgb: np.ndarray, side: int) -> np.ndarray:
    import cv2

    if rgb.shape[0] == side:
        return rgb
    interpolation = cv2.INTER_AREA if rgb.shape[0] > side else cv2.INTER_LINEAR
    return cv2.resize(rgb, (side, side), interpolation=interpolation)


def _render(generator, w_plus: np.ndarray | None, side: int) -> np.ndarray:
    with torch.no_grad():
        if w_plus is None:
            latent = generator.broadcast(generator.w_average())
        else:
            latent = torch.as_tensor(w_plus, dtype=torch.float32)[None]
        image = generator.synthesize(latent)
        return to_uint8_rgb(downsample(image, side))


def with_chroma_of(grey: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """`grey`'s lightness with `colour`'s chroma (same size, uint8 RGB)."""
    lab = rgb_to_lab(grey)
    lab[:, :, 1:] = rgb_to_lab(colour)[:, :, 1:]
    return lab_to_rgb(lab)


def project_face(
    generator,
    image: np.ndarray,
    points: np.ndarray,
    luminance_only: bool,
    resolution: int,
    iterations: int,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """The reconstruction (uint8 RGB, the size of `image`) of an aligned face."""
    side = image.shape[0]
    settings = ProjectionSettings(resolution=resolution, iterations=iterations)
    if not luminance_only:

        def step(done: int, total: int, _loss: float) -> None:
            if progress is not None:
                progress(done / max(total, 1))

        fit = project(generator, image, points, settings, progress=step, reconstruct=False)
        return _render(generator, fit.w_plus, max(side, resolution))
    rounds = max(1, -(-iterations // REFRESH_EVERY))
    latent: np.ndarray | None = None
    current = _render(generator, None, side)
    done = 0
    for _ in range(rounds):
        steps = min(REFRESH_EVERY, iterations - done)
        if steps <= 0:
            break
        target = with_chroma_of(image, current)
        chunk = ProjectionSettings(resolution=resolution, iterations=steps)

        def step(count: int, _total: int, _loss: float, base: int = done) -> None:
            if progress is not None:
                progress((base + count) / max(iterations, 1))

        fit = project(generator, target, points, chunk, latent, step, reconstruct=False)
        latent = fit.w_plus
        current = _render(generator, latent, side)
        done += steps
    return current
