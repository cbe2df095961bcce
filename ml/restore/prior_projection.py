"""The one call from ml/restore into the generator's projection (ml/stylemix/projection.py).

`project_face` projects an FFHQ-aligned face and renders the fitted latent. With
`luminance_only` the projection compares luma only (`target_transform=luminance`), so the
generator's colour output is free: a grey face comes back as a plausible colour face of the same
shades. Up to 256 px the projection runs the truncated generator (fast); the result is rendered
by the full network.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ml.stylemix.generator import downsample, to_uint8_rgb
from ml.stylemix.projection import ProjectionSettings, luminance, project


def render(generator, w_plus: np.ndarray | None, side: int) -> np.ndarray:
    """The full generator's image of W+ (the mean face for None), area-resized to side px."""
    with torch.no_grad():
        if w_plus is None:
            latent = generator.broadcast(generator.w_average())
        else:
            latent = torch.as_tensor(w_plus, dtype=torch.float32)[None]
        return to_uint8_rgb(downsample(generator.synthesize(latent), side))


def project_face(
    generator,
    image: np.ndarray,
    points: np.ndarray,
    luminance_only: bool,
    resolution: int,
    iterations: int,
    progress: Callable[[float], None] | None = None,
    side: int | None = None,
) -> np.ndarray:
    """The reconstruction (uint8 RGB, side px; default the size of `image`) of an aligned face."""

    def step(done: int, total: int, _loss: float) -> None:
        if progress is not None:
            progress(done / max(total, 1))

    fit = project(
        generator,
        image,
        points,
        ProjectionSettings(resolution=resolution, iterations=iterations),
        progress=step,
        reconstruct=False,
        target_transform=luminance if luminance_only else None,
    )
    return render(generator, fit.w_plus, side or image.shape[0])
